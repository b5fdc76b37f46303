package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/killswitch/killswitch/internal/catalog"
)

// Version is an upstream kernel version (6.1.192, 6.14-rc3): the
// catalog's, so selectors and the catalog's fixed ranges agree.
type Version = catalog.Version

// ParseVersion parses "6.1", "6.1.192" or "6.14-rc3".
func ParseVersion(s string) (Version, error) { return catalog.ParseVersion(s) }

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
	if k.Version == (Version{}) {
		return k.Release + " (upstream version unknown)"
	}
	return k.Release + " (" + k.Version.String() + ")"
}

// KernelFromUname works out the upstream version from uname -r, uname -v
// and Ubuntu's /proc/version_signature (empty elsewhere), as the catalog
// does: Debian's release keeps an ABI number where the patch level would
// be (6.1.0-56-amd64 is 6.1.192), so uname -v wins. The version is zero,
// and version selectors do not match, when the kernel does not say.
func KernelFromUname(release, version, signature string) Kernel {
	k := Kernel{Release: strings.TrimSpace(release)}
	if v, _, err := catalog.HostVersion(version, k.Release, signature); err == nil {
		k.Version = v
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
	text := strings.TrimPrefix(tok, op)
	v, err := catalog.ParseVersion(text)
	if err != nil {
		return nil, err
	}
	if op == "" && strings.Count(text, ".") == 1 && !strings.Contains(text, "-") {
		// A series: its release candidates and every stable release.
		first := Version{Major: v.Major, Minor: v.Minor, RC: 1}
		next := Version{Major: v.Major, Minor: v.Minor + 1, RC: 1}
		return []comparison{{">=", first}, {"<", next}}, nil
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
		if k.Version == (Version{}) {
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
