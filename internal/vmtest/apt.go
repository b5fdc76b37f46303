package vmtest

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// debPackage is one exact Debian package.
type debPackage struct {
	Name, Version, Arch string
}

// String is the package as apt-get download takes it. A foreign package
// (another architecture than the host's, through dpkg multiarch) carries its
// architecture: the unqualified name would select the host's package.
func (p debPackage) String() string {
	if p.foreign() {
		return p.Name + ":" + p.Arch + "=" + p.Version
	}
	return p.Name + "=" + p.Version
}

// foreign reports whether the package is built for another architecture
// than the host's. Debian and Go name amd64 and arm64 alike.
func (p debPackage) foreign() bool {
	return p.Arch != "" && p.Arch != "all" && p.Arch != runtime.GOARCH
}

// filename is the name apt-get download gives the .deb (an epoch's colon is
// URL-escaped).
func (p debPackage) filename() string {
	return p.Name + "_" + strings.ReplaceAll(p.Version, ":", "%3a") + "_" + p.Arch + ".deb"
}

// stanza is one paragraph of apt-cache show output.
type stanza map[string]string

// parseStanzas parses deb822 paragraphs (apt-cache show output). Folded
// continuation lines are joined to their field with a newline.
func parseStanzas(out string) []stanza {
	var (
		all  []stanza
		cur  stanza
		last string
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			if cur != nil {
				all = append(all, cur)
				cur = nil
			}
		case line[0] == ' ' || line[0] == '\t':
			if cur != nil && last != "" {
				cur[last] += "\n" + strings.TrimSpace(line)
			}
		default:
			key, val, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			if cur == nil {
				cur = stanza{}
			}
			last = key
			cur[key] = strings.TrimSpace(val)
		}
	}
	if cur != nil {
		all = append(all, cur)
	}
	return all
}

// dependNames flattens a Depends field to package names, alternatives
// included, in order, without version constraints or arch qualifiers.
func dependNames(field string) []string {
	var names []string
	for _, group := range strings.Split(field, ",") {
		for _, alt := range strings.Split(group, "|") {
			name, _, _ := strings.Cut(strings.TrimSpace(alt), " ")
			name, _, _ = strings.Cut(name, ":")
			name, _, _ = strings.Cut(name, "(")
			if name != "" {
				names = append(names, name)
			}
		}
	}
	return names
}

// firstMatch returns the first name matching re.
func firstMatch(names []string, re *regexp.Regexp) (string, bool) {
	for _, n := range names {
		if re.MatchString(n) {
			return n, true
		}
	}
	return "", false
}

// newestByVersion picks, among names matching re, the one whose first
// submatch is the highest dotted numeric version (6.12.117 > 6.12.99).
func newestByVersion(names []string, re *regexp.Regexp) (name, version string, ok bool) {
	var best []int
	for _, n := range names {
		m := re.FindStringSubmatch(strings.TrimSpace(n))
		if len(m) < 2 {
			continue
		}
		v, err := parseDotted(m[1])
		if err != nil {
			continue
		}
		if best == nil || compareDotted(v, best) > 0 {
			best, name, version, ok = v, m[0], m[1], true
		}
	}
	return name, version, ok
}

func parseDotted(s string) ([]int, error) {
	parts := strings.Split(s, ".")
	v := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("parsing version %q: %w", s, err)
		}
		v[i] = n
	}
	return v, nil
}

func compareDotted(a, b []int) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return len(a) - len(b)
}

// aptClient is the part of apt the resolver uses; tests replace it with
// captured output.
type aptClient interface {
	// Show returns apt-cache show --no-all-versions output for pkgs.
	Show(ctx context.Context, pkgs ...string) (string, error)
	// PkgNames returns apt-cache pkgnames output for a name prefix.
	PkgNames(ctx context.Context, prefix string) (string, error)
}

type aptCLI struct{}

func (aptCLI) Show(ctx context.Context, pkgs ...string) (string, error) {
	return output(ctx, "", "apt-cache", append([]string{"show", "--no-all-versions"}, pkgs...)...)
}

func (aptCLI) PkgNames(ctx context.Context, prefix string) (string, error) {
	return output(ctx, "", "apt-cache", "pkgnames", prefix)
}

// showPackages runs apt-cache show and indexes the candidates by name,
// failing when one of pkgs is unknown.
func showPackages(ctx context.Context, apt aptClient, pkgs ...string) (map[string]stanza, error) {
	out, err := apt.Show(ctx, pkgs...)
	if err != nil {
		return nil, fmt.Errorf("looking up %s with apt-cache (run apt-get update?): %w", strings.Join(pkgs, " "), err)
	}
	// Indexed by name and by name:arch, so that callers can look up
	// packages they asked for with a multiarch qualifier.
	byName := map[string]stanza{}
	for _, s := range parseStanzas(out) {
		for _, key := range []string{s["Package"], s["Package"] + ":" + s["Architecture"]} {
			if _, dup := byName[key]; !dup {
				byName[key] = s
			}
		}
	}
	for _, p := range pkgs {
		s, ok := byName[p]
		if !ok || s["Version"] == "" || s["Architecture"] == "" {
			return nil, fmt.Errorf("apt-cache has no candidate for %s (run apt-get update?)", p)
		}
	}
	return byName, nil
}

func (s stanza) pkg() debPackage {
	return debPackage{Name: s["Package"], Version: s["Version"], Arch: s["Architecture"]}
}
