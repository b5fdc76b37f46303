package preflight

//go:generate go run ./internal/rails/gen ../../kernel/guard.rails ../../kernel/ks_guard_rails.h guard_rails.go

// The module's guard rails (kernel/ks_guard.c), judged the same way here.
// Both tables are generated from kernel/guard.rails; the judgement below
// mirrors ks_glob and ks_rail_accepts, and TestGuardJudgement pins the two
// down on the same cases the VM suite 45-guard checks against the module.

// GuardClass says which retvals a guard rule accepts.
type GuardClass int

const (
	// GuardNone: no rule covers the function; any retval goes.
	GuardNone GuardClass = iota
	// GuardHazard: none; the kernel or killswitch itself depends on it.
	GuardHazard
	// GuardIntegrity: none; lockdown and Secure Boot rest on it.
	GuardIntegrity
	// GuardErrno: an int check where 0 allows; only -4095..-1.
	GuardErrno
	// GuardYesNo: a bool (or 1/0) check where nonzero allows; only 0.
	GuardYesNo
	// GuardEither: a check that returns an errno or a yes/no, the name
	// does not say which; none.
	GuardEither
)

// maxErrno is the kernel's MAX_ERRNO.
const maxErrno = 4095

// Accepts reports whether the class lets retval through. Callers of an
// int function read its low 32 bits and of a bool its low 8, so an errno
// must be one on all 64 bits (which makes it one at 32 too), and a yes/no
// check denies at every width only with exactly 0.
func (c GuardClass) Accepts(retval int64) bool {
	switch c {
	case GuardNone:
		return true
	case GuardErrno:
		return retval >= -maxErrno && retval <= -1
	case GuardYesNo:
		return retval == 0
	default:
		return false
	}
}

func (c GuardClass) String() string {
	switch c {
	case GuardNone:
		return "none"
	case GuardHazard:
		return "hazard"
	case GuardIntegrity:
		return "integrity"
	case GuardErrno:
		return "errno"
	case GuardYesNo:
		return "yesno"
	case GuardEither:
		return "either"
	}
	return "unknown"
}

// GuardRule is one rule of kernel/guard.rails.
type GuardRule struct {
	Pattern string
	Class   GuardClass
	What    string // "an allocator", "an LSM hook"
}

// GuardRuleFor returns the rule the module applies to sym: the first
// whose pattern matches sym's base name ("mod:name.isra.0" → "name").
func GuardRuleFor(sym string) (GuardRule, bool) {
	name := baseName(sym)
	for _, r := range guardRails {
		if globMatch(r.Pattern, name) {
			return r, true
		}
	}
	return GuardRule{}, false
}

// GuardRefuses reports whether the module (guard=1) refuses to make sym
// return retval, and by which rule.
func GuardRefuses(sym string, retval int64) (GuardRule, bool) {
	r, ok := GuardRuleFor(sym)
	return r, ok && !r.Class.Accepts(retval)
}

// globMatch is ks_glob: '*' matches any run of bytes, none included;
// nothing else is special.
func globMatch(pat, name string) bool {
	p, n := 0, 0
	star, resume := -1, 0
	for n < len(name) {
		switch {
		case p < len(pat) && pat[p] == '*':
			p++
			star, resume = p, n
		case p < len(pat) && pat[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star
			resume++
			n = resume
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
