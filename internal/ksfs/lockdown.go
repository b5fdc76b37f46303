package ksfs

import (
	"fmt"
	"strings"
)

// Lockdown is the kernel lockdown level (/sys/kernel/security/lockdown).
type Lockdown string

// Lockdown levels.
const (
	LockdownNone            Lockdown = "none"
	LockdownIntegrity       Lockdown = "integrity"
	LockdownConfidentiality Lockdown = "confidentiality"
)

// ParseLockdown parses the lockdown file, where the active level is in
// brackets: "none [integrity] confidentiality".
func ParseLockdown(s string) (Lockdown, error) {
	for _, f := range strings.Fields(s) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			switch l := Lockdown(f[1 : len(f)-1]); l {
			case LockdownNone, LockdownIntegrity, LockdownConfidentiality:
				return l, nil
			}
		}
	}
	return "", fmt.Errorf("lockdown %q: no known level in brackets", strings.TrimSpace(s))
}

// AllowsRuntime reports whether engage, tryengage, engagebpf and retval
// writes are allowed at this level.
func (l Lockdown) AllowsRuntime() bool { return l == LockdownNone || l == "" }

// AllowsModparam reports whether engage= at module load is allowed.
func (l Lockdown) AllowsModparam() bool { return l != LockdownConfidentiality }

// Explain says what the level lets an operator do, for people.
func (l Lockdown) Explain() string {
	switch l {
	case LockdownIntegrity:
		return "runtime engage/tryengage/engagebpf and retval writes are refused; " +
			"disengage works; engage= at module load works (the module must be signed)"
	case LockdownConfidentiality:
		return "runtime changes and engage= at module load are refused; only disengage works"
	default:
		return "everything is allowed to CAP_SYS_ADMIN"
	}
}
