package policy

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Version is an upstream kernel version: 6.1.192.
type Version struct {
	Major, Minor, Patch int
}

// IsZero reports whether the version is unknown.
func (v Version) IsZero() bool { return v == Version{} }

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// Compare returns -1, 0 or 1 as v is older than, the same as, or newer
// than w.
func (v Version) Compare(w Version) int {
	for _, d := range [...]int{v.Major - w.Major, v.Minor - w.Minor, v.Patch - w.Patch} {
		switch {
		case d < 0:
			return -1
		case d > 0:
			return 1
		}
	}
	return 0
}

// ParseVersion parses "6.1" or "6.1.192". A missing patch level is 0.
func ParseVersion(s string) (Version, error) {
	v, _, err := parseVersion(s)
	return v, err
}

// parseVersion also returns how many components were given.
func parseVersion(s string) (Version, int, error) {
	fields := strings.Split(s, ".")
	if len(fields) < 2 || len(fields) > 3 {
		return Version{}, 0, fmt.Errorf("kernel version %q: want MAJOR.MINOR or MAJOR.MINOR.PATCH, such as 6.1 or 6.1.192", s)
	}
	var n [3]int
	for i, f := range fields {
		x, err := strconv.ParseUint(f, 10, 16)
		if err != nil {
			return Version{}, 0, fmt.Errorf("kernel version %q: %q is not a number", s, f)
		}
		n[i] = int(x)
	}
	return Version{n[0], n[1], n[2]}, len(fields), nil
}

// Kernel is what a selector looks at.
type Kernel struct {
	// Release is uname -r: 6.1.0-56-amd64.
	Release string
	// Version is the upstream version the kernel is built from, which a
	// distribution release often hides: Debian's 6.1.0-56-amd64 is
	// 6.1.192. Zero when unknown.
	Version Version
}

func (k Kernel) String() string {
	if k.Version.IsZero() {
		return k.Release + " (upstream version unknown)"
	}
	return k.Release + " (" + k.Version.String() + ")"
}

var (
	// Debian and Ubuntu name the package version in uname -v
	// (/proc/sys/kernel/version): "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2".
	distroVersion = regexp.MustCompile(`(?:Debian|Ubuntu) (\d+\.\d+(?:\.\d+)?)[-+~ ]`)
	// The release's own leading version: 6.1.0-56-amd64, 6.8.12-arch1.
	releaseVersion = regexp.MustCompile(`^(\d+\.\d+(?:\.\d+)?)`)
)

// KernelFromUname works out the upstream version from uname -r and uname -v
// (and Ubuntu's /proc/version_signature, "Ubuntu 6.8.0-45.45-generic
// 6.8.12", when given). Debian's and Ubuntu's releases keep the patch level
// at 0 or the ABI number, so their package version wins when present.
func KernelFromUname(release, version, signature string) Kernel {
	k := Kernel{Release: strings.TrimSpace(release)}
	if f := strings.Fields(signature); len(f) >= 3 {
		if v, err := ParseVersion(f[len(f)-1]); err == nil {
			k.Version = v
			return k
		}
	}
	if m := distroVersion.FindStringSubmatch(version + " "); m != nil {
		if v, err := ParseVersion(m[1]); err == nil {
			k.Version = v
			return k
		}
	}
	if m := releaseVersion.FindStringSubmatch(k.Release); m != nil {
		if v, err := ParseVersion(m[1]); err == nil {
			k.Version = v
		}
	}
	return k
}

// Constraint is a set of version ranges: alternatives separated by "||",
// each a list of comparisons that must all hold, separated by spaces or
// commas. A comparison is an operator (>=, >, <=, <, =, !=) and a version;
// a bare version means that series: "6.1" is >=6.1.0 <6.2.0, "6.1.5" is
// =6.1.5.
//
//	">=6.1 <6.1.140 || >=6.6 <6.6.90"
type Constraint struct {
	text string
	alts [][]comparison
}

type comparison struct {
	op string
	v  Version
}

func (c comparison) holds(v Version) bool {
	r := v.Compare(c.v)
	switch c.op {
	case ">=":
		return r >= 0
	case ">":
		return r > 0
	case "<=":
		return r <= 0
	case "<":
		return r < 0
	case "!=":
		return r != 0
	default:
		return r == 0
	}
}

// ParseConstraint parses a version constraint.
func ParseConstraint(s string) (Constraint, error) {
	c := Constraint{text: strings.TrimSpace(s)}
	if c.text == "" {
		return Constraint{}, errors.New("empty version constraint: write ranges such as \">=6.1 <6.1.140\"")
	}
	for _, alt := range strings.Split(c.text, "||") {
		var all []comparison
		for _, tok := range strings.FieldsFunc(alt, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
			cmps, err := parseComparison(tok)
			if err != nil {
				return Constraint{}, fmt.Errorf("version constraint %q: %w", c.text, err)
			}
			all = append(all, cmps...)
		}
		if len(all) == 0 {
			return Constraint{}, fmt.Errorf("version constraint %q: empty alternative around ||", c.text)
		}
		c.alts = append(c.alts, all)
	}
	return c, nil
}

func parseComparison(tok string) ([]comparison, error) {
	op := ""
	for _, o := range []string{">=", "<=", "!=", ">", "<", "="} {
		if strings.HasPrefix(tok, o) {
			op = o
			break
		}
	}
	v, parts, err := parseVersion(strings.TrimPrefix(tok, op))
	if err != nil {
		return nil, err
	}
	if op == "" && parts == 2 {
		next := Version{v.Major, v.Minor + 1, 0}
		return []comparison{{">=", v}, {"<", next}}, nil
	}
	if op == "" {
		op = "="
	}
	return []comparison{{op, v}}, nil
}

// Match reports whether v is in one of the ranges.
func (c Constraint) Match(v Version) bool {
	for _, alt := range c.alts {
		ok := true
		for _, cmp := range alt {
			ok = ok && cmp.holds(v)
		}
		if ok {
			return true
		}
	}
	return false
}

func (c Constraint) String() string { return c.text }

// Selector chooses the kernels an entry applies to. The zero Selector
// matches every kernel.
type Selector struct {
	// Releases are globs on uname -r (path.Match syntax); one must match.
	Releases []string
	// Version constrains the upstream version; nil matches any.
	Version *Constraint
}

// IsZero reports whether the selector matches every kernel.
func (s Selector) IsZero() bool { return len(s.Releases) == 0 && s.Version == nil }

// Match reports whether k is selected; if not, the reason says why.
func (s Selector) Match(k Kernel) (ok bool, reason string) {
	if len(s.Releases) > 0 {
		hit := false
		for _, g := range s.Releases {
			if m, _ := path.Match(g, k.Release); m {
				hit = true
				break
			}
		}
		if !hit {
			return false, "kernel release " + k.Release + " matches none of " + strings.Join(s.Releases, ", ")
		}
	}
	if s.Version != nil {
		if k.Version.IsZero() {
			return false, "the upstream version of kernel " + k.Release + " is unknown, so version " + s.Version.String() + " cannot be checked"
		}
		if !s.Version.Match(k.Version) {
			return false, "kernel version " + k.Version.String() + " is outside " + s.Version.String()
		}
	}
	return true, ""
}

func (s Selector) String() string {
	var parts []string
	if len(s.Releases) > 0 {
		parts = append(parts, "release "+strings.Join(s.Releases, "|"))
	}
	if s.Version != nil {
		parts = append(parts, "version "+s.Version.String())
	}
	if len(parts) == 0 {
		return "any kernel"
	}
	return strings.Join(parts, ", ")
}

// pathMatch checks a glob's syntax.
func pathMatch(glob string) (bool, error) { return path.Match(glob, "") }
