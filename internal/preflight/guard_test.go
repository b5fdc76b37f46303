package preflight

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/killswitch/killswitch/internal/catalog"
	"github.com/killswitch/killswitch/internal/preflight/internal/rails"
)

// TestGuardRailsGenerated fails when kernel/ks_guard_rails.h or
// guard_rails.go no longer match kernel/guard.rails.
func TestGuardRailsGenerated(t *testing.T) {
	src, err := os.ReadFile("../../kernel/guard.rails")
	if os.IsNotExist(err) {
		t.Skip("kernel/guard.rails not in this tree")
	}
	if err != nil {
		t.Fatal(err)
	}
	rules, err := rails.Parse("kernel/guard.rails", src)
	if err != nil {
		t.Fatal(err)
	}
	goSrc, err := rails.Go(rules)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][]byte{
		"../../kernel/ks_guard_rails.h": rails.C(rules),
		"guard_rails.go":                goSrc,
	} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./internal/preflight and commit it", filepath.Base(file))
		}
	}
	if len(guardRails) != len(rules) {
		t.Errorf("guardRails has %d rules, kernel/guard.rails %d", len(guardRails), len(rules))
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		want      bool
	}{
		{"capable", "capable", true},
		{"capable", "capable_x", false},
		{"ns_capable*", "ns_capable", true},
		{"ns_capable*", "ns_capable_setid", true},
		{"*_permission", "inode_permission", true},
		{"*_permission", "_permission", true},
		{"*_permission", "permission", false},
		{"*_permission", "inode_permission_x", false},
		{"*may_*", "__ptrace_may_access", true},
		{"*may_*", "may_", true},
		{"*may_*", "mayfly", false},
		{"check_*perm*", "check_syslog_permissions", true},
		{"check_*perm*", "check_perm", true},
		{"check_*perm*", "check_per", false},
		{"*check_*_access", "__check_mem_access", true},
		{"*check_*_access", "check_access", false},
		{"*_capable*", "capable", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYcZ", false},
		{"**x", "x", true},
		{"x", "", false},
	} {
		if got := globMatch(tc.pat, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pat, tc.name, got, tc.want)
		}
	}
}

// TestGuardJudgement is ks_guard_check's contract; the 20-filters and
// 45-guard VM suites check the module against the same cases.
func TestGuardJudgement(t *testing.T) {
	for _, tc := range []struct {
		sym     string
		retval  int64
		refused bool
		class   GuardClass
	}{
		// errno checks: -4095..-1 on all 64 bits, nothing else.
		{"security_file_open", -1, false, GuardErrno},
		{"security_file_open", -4095, false, GuardErrno},
		{"security_file_open", -4096, true, GuardErrno},
		{"security_file_open", 0, true, GuardErrno},
		{"security_file_open", 1, true, GuardErrno},
		{"security_file_open", math.MinInt64, true, GuardErrno},
		{"cap_capable", -0x1_0000_0000, true, GuardErrno},
		{"cap_capable", -0x1_0000_0001, true, GuardErrno},
		{"cap_capable", 0x1_0000_0000, true, GuardErrno},
		{"cap_capable", -13, false, GuardErrno},
		{"vmlinux:security_bprm_check", -1, false, GuardErrno},
		{"apparmor_file_open.isra.0", 0, true, GuardErrno},
		{"__ptrace_may_access.constprop.0", -1, false, GuardErrno},
		{"inode_permission", 0, true, GuardErrno},
		{"nfs:nfs_permission", -13, false, GuardErrno},
		{"setattr_prepare", 0, true, GuardErrno},
		{"may_open", 0, true, GuardErrno},
		{"check_syslog_permissions", 0, true, GuardErrno},
		{"check_mem_access", 0, true, GuardErrno},
		{"bpf_check", -1, false, GuardErrno},
		{"aa_dfa_unpack", -71, false, GuardErrno},
		{"aa_replace_profiles", -13, false, GuardErrno},
		// yes/no checks: only 0.
		{"capable", 0, false, GuardYesNo},
		{"capable", 1, true, GuardYesNo},
		{"capable", -1, true, GuardYesNo},
		{"capable", 256, true, GuardYesNo},
		{"inode_owner_or_capable", 1, true, GuardYesNo},
		{"inode_owner_or_capable", 0, false, GuardYesNo},
		{"ns_capable_noaudit", 0, false, GuardYesNo},
		{"ptrace_may_access", 1, true, GuardYesNo},
		{"sk_filter_is_valid_access", 1, true, GuardYesNo},
		// either: nothing.
		{"sb_may_frob", -1, true, GuardEither},
		{"foo_capable_bar", 0, true, GuardEither},
		{"devcgroup_allowed", 0, true, GuardEither},
		{"mm_access", -1, true, GuardEither},
		{"tomoyo_check_path_acl", 0, true, GuardEither},
		{"selinux_ip_forward", -1, true, GuardEither},
		{"aa_label_is_subset", -1, true, GuardEither},
		// integrity: nothing.
		{"module_sig_check", -1, true, GuardIntegrity},
		{"mod_verify_sig", -126, true, GuardIntegrity},
		{"security_locked_down", -1, true, GuardIntegrity},
		{"lockdown_is_locked_down", 0, true, GuardIntegrity},
		{"is_module_sig_enforced", 0, true, GuardIntegrity},
		{"verify_pkcs7_signature", -1, true, GuardIntegrity},
		{"ima_file_check", -13, true, GuardIntegrity},
		{"kernel_read_file_from_fd", -1, true, GuardIntegrity},
		{"__x64_sys_kexec_file_load", -1, true, GuardIntegrity},
		{"__x64_sys_finit_module", -1, true, GuardIntegrity},
		{"load_module", -1, true, GuardIntegrity},
		{"security_kernel_read_file", -1, true, GuardIntegrity},
		// hazards: nothing.
		{"kmalloc_trace", -12, true, GuardHazard},
		{"schedule", 0, true, GuardHazard},
		{"up", 0, true, GuardHazard},
		{"_raw_spin_lock.constprop.0", 0, true, GuardHazard},
		{"within_kprobe_blacklist", 0, true, GuardHazard},
		// not covered.
		{"af_alg_sendmsg", -1, false, GuardNone},
		{"af_alg_sendmsg", 0, false, GuardNone},
		{"upcase", 0, false, GuardNone},
		{"esp_input", -22, false, GuardNone},
	} {
		rule, refused := GuardRefuses(tc.sym, tc.retval)
		got := GuardNone
		if r, ok := GuardRuleFor(tc.sym); ok {
			got = r.Class
			if r != rule {
				t.Errorf("GuardRefuses(%q) used rule %v, GuardRuleFor %v", tc.sym, rule, r)
			}
		}
		if refused != tc.refused || got != tc.class {
			t.Errorf("%s %d: refused=%v class=%v, want refused=%v class=%v (rule %q)",
				tc.sym, tc.retval, refused, got, tc.refused, tc.class, rule.Pattern)
		}
	}
}

// guardBTFFiles are the kernel BTF blobs TestGuardBTF checks: the
// running kernel's, and any listed in KS_GUARD_BTF (colon-separated; a
// vmlinux ELF with a .BTF section or a raw blob, e.g. a Debian kernel's
// extracted with scripts/extract-vmlinux).
func guardBTFFiles() []string {
	files := []string{"/sys/kernel/btf/vmlinux"}
	if env := os.Getenv("KS_GUARD_BTF"); env != "" {
		files = append(files, strings.Split(env, ":")...)
	}
	return files
}

func loadBTF(path string) (*btf.Spec, error) {
	if spec, err := btf.LoadSpec(path); err == nil {
		return spec, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return btf.LoadSpecFromReader(f)
}

// TestGuardBTF lists every check function of a real kernel's BTF and
// shows the Go guard refuses each at every fail-open value for its
// return type, and accepts its rule's fail-closed value. The VM suite
// 45-guard does the same against the module on the test kernels.
func TestGuardBTF(t *testing.T) {
	ran := 0
	for _, file := range guardBTFFiles() {
		spec, err := loadBTF(file)
		if os.IsNotExist(err) || os.IsPermission(err) {
			t.Logf("%s: %v", file, err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		ran++
		targets, err := GuardTargets(spec)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		perClass := map[GuardClass]int{}
		for _, tg := range targets {
			perClass[tg.Rule.Class]++
			for _, v := range tg.FailOpen {
				if _, refused := GuardRefuses(tg.Name, v); !refused {
					t.Errorf("%s: %s returns %s, rule %s (%s) accepts the fail-open %d",
						file, tg.Name, tg.Returns, tg.Rule.Pattern, tg.Rule.Class, v)
				}
			}
			if _, refused := GuardRefuses(tg.Name, tg.FailClosed); tg.HasFailClosed && refused {
				t.Errorf("%s: %s: the fail-closed %d is refused", file, tg.Name, tg.FailClosed)
			}
		}
		t.Logf("%s: %d check functions: %d integrity, %d errno, %d yesno, %d either", file, len(targets),
			perClass[GuardIntegrity], perClass[GuardErrno], perClass[GuardYesNo], perClass[GuardEither])
		if len(targets) < 500 {
			t.Errorf("%s: only %d check functions: is this a whole kernel's BTF?", file, len(targets))
		}
	}
	if ran == 0 {
		t.Skip("no kernel BTF readable (set KS_GUARD_BTF)")
	}
}

// TestGuardCatalog: every reviewed catalog target passes the guard at its
// retval, unless the entry records the guard rail that refuses it.
func TestGuardCatalog(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cat.Entries() {
		for _, tg := range e.Targets {
			for _, name := range tg.Names() {
				if r, refused := GuardRefuses(name, tg.Retval); refused && e.Guard == "" {
					t.Errorf("%s: the guard refuses %s %d (rule %s, %s): fix the rule or record guard: in the entry",
						e.ID, name, tg.Retval, r.Pattern, r.Class)
				}
			}
		}
	}
}
