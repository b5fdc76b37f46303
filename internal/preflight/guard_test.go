package preflight

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestGuardMatchesModule keeps guard.go in step with the module's lists.
func TestGuardMatchesModule(t *testing.T) {
	src, err := os.ReadFile("../../kernel/ks_guard.c")
	if os.IsNotExist(err) {
		t.Skip("kernel/ks_guard.c not in this tree")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		array string
		want  []string
	}{
		{"ks_security_checks", securityChecks},
		{"ks_security_bools", securityBools},
		{"ks_hazards", hazards},
	} {
		block := regexp.MustCompile(`(?s)` + tc.array + `\[\] = \{(.*?)\n\};`).FindSubmatch(src)
		if block == nil {
			t.Fatalf("array %s not found in ks_guard.c", tc.array)
		}
		var got []string
		for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllSubmatch(block[1], -1) {
			got = append(got, string(m[1]))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s differs from kernel/ks_guard.c:\n module %q\n go     %q", tc.array, got, tc.want)
		}
	}
}

func TestGuard(t *testing.T) {
	for sym, want := range map[string]bool{
		"security_file_open":              true,
		"cap_capable":                     true,
		"vmlinux:security_bprm_check":     true,
		"apparmor_file_open.isra.0":       true,
		"af_alg_sendmsg":                  false,
		"__ptrace_may_access.constprop.0": true,
		"capable":                         false,
	} {
		if _, got := IsSecurityCheck(sym); got != want {
			t.Errorf("IsSecurityCheck(%q) = %v, want %v", sym, got, want)
		}
	}
	for sym, want := range map[string]bool{
		"capable": true, "capablefoo": false, "ns_capable_noaudit": true, "capable_wrt_inode_uidgid": true,
		"ptrace_may_access": true, "__ptrace_may_access": false, "security_file_open": false,
	} {
		if _, got := IsSecurityBool(sym); got != want {
			t.Errorf("IsSecurityBool(%q) = %v, want %v", sym, got, want)
		}
	}
	for sym, want := range map[string]bool{
		"kmalloc_trace": true, "schedule": true, "up": true, "upcase": false,
		"_raw_spin_lock": true, "af_alg_sendmsg": false, "down_read": true, "rcu_note_context_switch": true,
	} {
		if _, got := IsHazard(sym); got != want {
			t.Errorf("IsHazard(%q) = %v, want %v", sym, got, want)
		}
	}
}
