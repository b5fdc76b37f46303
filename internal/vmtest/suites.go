package vmtest

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

const (
	selftestScript = "killswitch_test.sh"
	// selftestSuite is the seed selftest's name in /ks/suites.
	selftestSuite = "10-selftest"
	suitesDir     = "test/vm/suites"
	// suiteLibDir is copied to /ks/lib for suites to source or run.
	suiteLibDir = "test/vm/lib"
)

// suite is one entry of /ks/suites.
type suite struct {
	Name string
	// Exactly one of these is set.
	Script   string // host path of an executable file
	GoPkg    string // Go main package, built static for the guest
	Selftest bool   // the seed selftest, run from /ks/selftests
}

// discoverSuites lists the suites in the tree: the seed selftest when
// selftests/ has it, every executable file in test/vm/suites/ and every
// directory there holding a Go main package. Anything else in
// test/vm/suites/ (except *.md) is an error, so that no suite is skipped
// silently.
func discoverSuites(repo string) ([]suite, error) {
	var suites []suite
	if exists(filepath.Join(repo, "selftests", selftestScript)) {
		suites = append(suites, suite{Name: selftestSuite, Selftest: true})
	}
	entries, err := os.ReadDir(filepath.Join(repo, suitesDir))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("listing %s: %w", suitesDir, err)
	}
	for _, e := range entries {
		p := filepath.Join(repo, suitesDir, e.Name())
		rel := path.Join(suitesDir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".md") || strings.HasPrefix(e.Name(), "."):
			continue
		case e.IsDir():
			gofiles, _ := filepath.Glob(filepath.Join(p, "*.go"))
			if len(gofiles) == 0 {
				return nil, fmt.Errorf("%s is a directory without Go files: a suite is an executable file or a Go main package (shared files go in %s)", rel, suiteLibDir)
			}
			suites = append(suites, suite{Name: e.Name(), GoPkg: "./" + rel})
		default:
			info, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", rel, err)
			}
			if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
				return nil, fmt.Errorf("%s is not an executable file (chmod +x it)", rel)
			}
			suites = append(suites, suite{Name: e.Name(), Script: p})
		}
	}
	sort.Slice(suites, func(i, j int) bool { return suites[i].Name < suites[j].Name })
	for i := 1; i < len(suites); i++ {
		if suites[i].Name == suites[i-1].Name {
			return nil, fmt.Errorf("two suites are named %s", suites[i].Name)
		}
	}
	return suites, nil
}

// selectSuites keeps the suites whose name matches one of the
// comma-separated globs in filter (all when filter is empty).
func selectSuites(all []suite, filter string) ([]suite, error) {
	if strings.TrimSpace(filter) == "" {
		return all, nil
	}
	var pats []string
	for _, p := range strings.Split(filter, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("bad -suites pattern %q: %w", p, err)
			}
			pats = append(pats, p)
		}
	}
	var out []suite
	for _, s := range all {
		for _, p := range pats {
			if ok, _ := path.Match(p, s.Name); ok {
				out = append(out, s)
				break
			}
		}
	}
	if len(out) == 0 {
		names := make([]string, len(all))
		for i, s := range all {
			names[i] = s.Name
		}
		return nil, fmt.Errorf("-suites %q matches no suite (have: %s)", filter, strings.Join(names, ", "))
	}
	return out, nil
}

// checkStatic fails unless file is a statically linked ELF executable.
func checkStatic(file, hint string) error {
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("%s: %w (%s)", file, err, hint)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: the initramfs has no libc (%s)", file, hint)
		}
	}
	return nil
}

// busyboxApplets parses busybox --list-full into applet paths, without the
// ones that would shadow our own /init.
func busyboxApplets(listFull string) []string {
	var out []string
	for _, l := range strings.Split(listFull, "\n") {
		l = strings.Trim(strings.TrimSpace(l), "/")
		if l == "" || l == "linuxrc" || l == "init" {
			continue
		}
		out = append(out, l)
	}
	return out
}

// relLink is the relative symlink target from an applet path to
// bin/busybox: usr/sbin/x -> ../../bin/busybox.
func relLink(applet string) string {
	depth := strings.Count(applet, "/")
	return strings.Repeat("../", depth) + "bin/busybox"
}
