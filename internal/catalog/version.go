package catalog

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is an upstream kernel version: 6.1.192, 6.14, 7.1-rc3. Distribution
// suffixes (-2, +deb12, -amd64) are not part of it.
type Version struct {
	Major, Minor, Patch int
	// RC is the release candidate number; 0 for a release. 6.14-rc3
	// comes before 6.14.
	RC int
}

// maxComponent bounds each number: no kernel version comes near it, and
// it keeps comparisons free of overflow.
const maxComponent = 1 << 20

// ParseVersion parses "6.1.192", "6.14", "v2.6.12" or "7.1-rc3". A two
// part version is the mainline release (6.14 == 6.14.0). Three-part
// versions with a fourth number (2.6.32.1) are not supported: every
// catalog range starts at 2.6.12 or later and only 2.6.x has a third
// component before the patch level.
func ParseVersion(s string) (Version, error) {
	v, err := parseVersion(s)
	if err != nil {
		return Version{}, fmt.Errorf("kernel version %q: %w", s, err)
	}
	return v, nil
}

func parseVersion(s string) (Version, error) {
	rest := strings.TrimPrefix(s, "v")
	var v Version
	if i := strings.Index(rest, "-rc"); i >= 0 {
		n, err := component(rest[i+3:])
		if err != nil || n == 0 {
			return Version{}, errors.New("want -rc followed by a number from 1")
		}
		v.RC = n
		rest = rest[:i]
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, errors.New("want major.minor[.patch][-rcN]")
	}
	nums := make([]int, 3)
	for i, p := range parts {
		n, err := component(p)
		if err != nil {
			return Version{}, err
		}
		nums[i] = n
	}
	v.Major, v.Minor, v.Patch = nums[0], nums[1], nums[2]
	if v.Major == 2 && v.Minor == 6 && len(parts) == 2 {
		// "2.6" alone names a whole series, never a release.
		return Version{}, errors.New("2.6 needs its third number (2.6.12)")
	}
	if v.RC > 0 && len(parts) == 3 && !(v.Major == 2 && v.Minor == 6) {
		return Version{}, errors.New("release candidates are major.minor-rcN")
	}
	return v, nil
}

func component(s string) (int, error) {
	if s == "" || len(s) > 7 {
		return 0, fmt.Errorf("%q is not a version number", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a version number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= maxComponent {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

// String renders the version as ParseVersion reads it.
func (v Version) String() string {
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor)
	if v.Patch != 0 || (v.Major == 2 && v.Minor == 6) {
		s += "." + strconv.Itoa(v.Patch)
	}
	if v.RC > 0 {
		s += "-rc" + strconv.Itoa(v.RC)
	}
	return s
}

// Compare returns -1, 0 or 1 as v is older than, the same as, or newer
// than w.
func (v Version) Compare(w Version) int {
	for _, d := range [...]int{v.Major - w.Major, v.Minor - w.Minor, v.Patch - w.Patch, rcRank(v) - rcRank(w)} {
		switch {
		case d < 0:
			return -1
		case d > 0:
			return 1
		}
	}
	return 0
}

// rcRank orders release candidates before the release.
func rcRank(v Version) int {
	if v.RC == 0 {
		return maxComponent
	}
	return v.RC
}

// Series is the stable branch: 6.1.192 -> 6.1.
func (v Version) Series() Version { return Version{Major: v.Major, Minor: v.Minor} }

// Range is a set of versions between two bounds, either of them optional:
// "6.1.7 <= v < 6.1.167", "v < 7.0", "6.18 <= v".
type Range struct {
	From, To         Version
	HasFrom, HasTo   bool
	FromOpen, ToOpen bool // bound excluded: "5.10 < v", "v < 6.1.167"
}

// ParseRange parses a range written as in the catalog: an optional lower
// bound "<version> <=" or "<version> <", the letter v, and an optional upper
// bound "< <version>" or "<= <version>". ≤ may stand for <=. Spaces are
// optional. At least one bound is required, and the range must not be
// empty.
func ParseRange(s string) (Range, error) {
	r, err := parseRange(s)
	if err != nil {
		return Range{}, fmt.Errorf("version range %q: %w", s, err)
	}
	return r, nil
}

var rangeRE = regexp.MustCompile(`^\s*(?:([^\s<≤]+)\s*(<=|≤|<)\s*)?v\s*(?:(<=|≤|<)\s*([^\s]+))?\s*$`)

func parseRange(s string) (Range, error) {
	m := rangeRE.FindStringSubmatch(s)
	if m == nil {
		return Range{}, errors.New(`want "A <= v < B", "v < B" or "A <= v"`)
	}
	var r Range
	var err error
	if m[1] != "" {
		if r.From, err = parseVersion(m[1]); err != nil {
			return Range{}, err
		}
		r.HasFrom, r.FromOpen = true, m[2] == "<"
	}
	if m[4] != "" {
		if r.To, err = parseVersion(m[4]); err != nil {
			return Range{}, err
		}
		r.HasTo, r.ToOpen = true, m[3] == "<"
	}
	if !r.HasFrom && !r.HasTo {
		return Range{}, errors.New("a range needs a lower or an upper bound")
	}
	if r.HasFrom && r.HasTo {
		c := r.From.Compare(r.To)
		if c > 0 || (c == 0 && (r.FromOpen || r.ToOpen)) {
			return Range{}, fmt.Errorf("empty: %v is not below %v", r.From, r.To)
		}
	}
	return r, nil
}

// Contains reports whether v is in the range.
func (r Range) Contains(v Version) bool {
	if r.HasFrom {
		c := v.Compare(r.From)
		if c < 0 || (c == 0 && r.FromOpen) {
			return false
		}
	}
	if r.HasTo {
		c := v.Compare(r.To)
		if c > 0 || (c == 0 && r.ToOpen) {
			return false
		}
	}
	return true
}

// String renders the range as ParseRange reads it.
func (r Range) String() string {
	var b strings.Builder
	if r.HasFrom {
		b.WriteString(r.From.String())
		b.WriteString(op(r.FromOpen))
	}
	b.WriteString("v")
	if r.HasTo {
		b.WriteString(op(r.ToOpen))
		b.WriteString(r.To.String())
	}
	return b.String()
}

func op(open bool) string {
	if open {
		return " < "
	}
	return " <= "
}

// debianRE finds the Debian package version in uname -v:
// "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-10-20)".
var debianRE = regexp.MustCompile(`\bDebian (\d+\.\d+(?:\.\d+)?)[-+~ ]`)

// ubuntuRE reads /proc/version_signature: "Ubuntu 5.15.0-91.101-generic 5.15.131".
var ubuntuRE = regexp.MustCompile(`^Ubuntu \S+ (\d+\.\d+(?:\.\d+)?)\s*$`)

// releaseRE reads an upstream version at the start of uname -r: 6.12.117+deb12-amd64,
// 6.6.30, 6.9.0-rc3.
var releaseRE = regexp.MustCompile(`^(\d+\.\d+)(?:\.(\d+))?(-rc\d+)?`)

// HostVersion works out the running kernel's upstream version from what
// the kernel says about itself: uname -v (/proc/sys/kernel/version), uname
// -r (/proc/sys/kernel/osrelease) and, on Ubuntu, /proc/version_signature
// (empty elsewhere). It returns the version and where it came from.
//
// Debian's uname -r carries an ABI number, not the patch level
// (6.1.0-56-amd64 is 6.1.192), so uname -v is read first.
func HostVersion(unameV, release, signature string) (Version, string, error) {
	if m := debianRE.FindStringSubmatch(unameV); m != nil {
		if v, err := ParseVersion(m[1]); err == nil {
			return v, "uname -v (Debian " + m[1] + ")", nil
		}
	}
	if m := ubuntuRE.FindStringSubmatch(strings.TrimSpace(signature)); m != nil {
		if v, err := ParseVersion(m[1]); err == nil {
			return v, "/proc/version_signature", nil
		}
	}
	release = strings.TrimSpace(release)
	m := releaseRE.FindStringSubmatch(release)
	if m == nil {
		return Version{}, "", fmt.Errorf("kernel release %q does not start with a version (pass --kernel-version)", release)
	}
	if m[2] == "0" && m[3] == "" && strings.Contains(release, "-") {
		// x.y.0-N-flavour: a distribution ABI number, not x.y itself.
		return Version{}, "", fmt.Errorf("kernel release %q names a distribution ABI (x.y.0-N), not the upstream patch level, and uname -v does not say it either (pass --kernel-version)", release)
	}
	text := m[1]
	switch {
	case m[3] != "":
		text += m[3] // 6.9.0-rc3 is 6.9-rc3
	case m[2] != "":
		text += "." + m[2]
	}
	v, err := ParseVersion(text)
	if err != nil {
		return Version{}, "", fmt.Errorf("kernel release %q: %w (pass --kernel-version)", release, err)
	}
	return v, "uname -r", nil
}
