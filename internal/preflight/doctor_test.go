package preflight

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/preflight/preflighttest"
)

func doctorText(fs []Finding) string {
	var lines []string
	for _, f := range fs {
		lines = append(lines, f.Verdict.String()+" "+f.Check+": "+f.String())
	}
	return strings.Join(lines, "\n")
}

func TestDoctor(t *testing.T) {
	_, root := newFixture(t)
	write := func(name, data string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	notSupported := func() (error, error) { return nil, ebpf.ErrNotSupported }

	got := doctorText(NewHost(hostfs.Dir(root)).Doctor(DoctorOptions{ProbeBPF: notSupported}))
	for _, want := range []string{
		"ok kernel: running " + fixtureRelease,
		"ok securityfs: securityfs is mounted",
		"ok module: killswitch module is loaded",
		"refuse interface: the module is loaded but /sys/kernel/security/killswitch is missing",
		"ok kconfig: CONFIG_KPROBES=y",
		"ok kprobes: kprobes are enabled",
		"ok lockdown: lockdown=none",
		"ok btf: kernel BTF",
		"warn engagebpf: engagebpf cannot work on this kernel: CONFIG_FUNCTION_ERROR_INJECTION, CONFIG_BPF_KPROBE_OVERRIDE not set",
		"warn bpf-probe: kprobe programs load, but bpf_override_return is not available",
		"warn helper: /usr/sbin/ks-bpf-load is missing",
		"ok secureboot: not booted with EFI",
		"ok signing: module signatures are not enforced",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("doctor does not say %q:\n%s", want, got)
		}
	}

	// A locked-down Secure Boot host with the module installed but not loaded.
	for _, p := range []string{"sys/module/killswitch"} {
		if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	write("lib/modules/"+fixtureRelease+"/modules.dep", "updates/dkms/killswitch.ko: \nkernel/crypto/af_alg.ko:\n", 0o644)
	write("sys/kernel/security/lockdown", "none integrity [confidentiality]\n", 0o644)
	write("sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e98c0e25a8b0", "\x06\x00\x00\x00\x01", 0o644)
	write("sys/module/module/parameters/sig_enforce", "Y\n", 0o644)
	write("usr/sbin/ks-bpf-load", "#!/bin/sh\n", 0o755)
	write("proc/self/mounts", "proc /proc proc rw 0 0\n", 0o644)
	write("sys/kernel/debug/kprobes/enabled", "0\n", 0o644)
	perm := func() (error, error) { return errors.New("operation not permitted"), nil }

	got = doctorText(NewHost(hostfs.Dir(root)).Doctor(DoctorOptions{ProbeBPF: perm}))
	for _, want := range []string{
		"refuse securityfs: securityfs is not mounted at /sys/kernel/security (mount -t securityfs",
		"warn module: killswitch is installed (updates/dkms/killswitch.ko) but not loaded (modprobe killswitch)",
		"refuse lockdown: lockdown=confidentiality",
		"refuse kprobes: kprobes are disabled globally",
		"skip bpf-probe: could not probe BPF support: operation not permitted (run as root)",
		"warn bpffs: bpffs is not mounted",
		"ok helper: /usr/sbin/ks-bpf-load is installed",
		"warn secureboot: Secure Boot is on",
		"warn signing: module signatures are enforced",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("doctor does not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "interface") {
		t.Errorf("interface checked without the module:\n%s", got)
	}
}

// TestDoctorSigning: where signature enforcement comes from, and whether
// our module passes it, on a Secure Boot-like host.
func TestDoctorSigning(t *testing.T) {
	signing := func(t *testing.T, setup func(write func(name, data string), remove func(string))) string {
		t.Helper()
		h, root := newFixture(t)
		write := func(name, data string) {
			t.Helper()
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		remove := func(name string) {
			t.Helper()
			if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
		}
		setup(write, remove)
		var lines []string
		for _, f := range h.Doctor(DoctorOptions{}) {
			if f.Check == "signing" {
				lines = append(lines, f.Verdict.String()+" "+f.String())
			}
		}
		if len(lines) != 1 {
			t.Fatalf("want one signing finding, got %q", lines)
		}
		return lines[0]
	}
	mods := "lib/modules/" + fixtureRelease + "/"
	unload := func(remove func(string)) { remove("sys/module/killswitch") }
	for _, tc := range []struct {
		name  string
		setup func(write func(name, data string), remove func(string))
		want  string
	}{
		{"not enforced", func(w func(string, string), r func(string)) {},
			"ok module signatures are not enforced"},
		{"not enforced, unsigned module loaded", func(w func(string, string), r func(string)) {
			w("sys/module/killswitch/taint", "OE\n")
		}, "ok module signatures are not enforced; the loaded killswitch is unsigned (taint E)"},
		{"no signing in the kernel", func(w func(string, string), r func(string)) {
			w("boot/config-"+fixtureRelease, strings.ReplaceAll(preflighttest.Config, "CONFIG_MODULE_SIG=y\n", ""))
			w("sys/module/module/parameters/sig_enforce", "Y\n")
		}, "ok the kernel does not check module signatures (CONFIG_MODULE_SIG is not set)"},
		{"sig_enforce and lockdown, module loaded", func(w func(string, string), r func(string)) {
			w("sys/module/module/parameters/sig_enforce", "Y\n")
			w("sys/kernel/security/lockdown", "none [integrity] confidentiality\n")
		}, "ok module signatures are enforced (module.sig_enforce=1, lockdown=integrity): an unsigned killswitch.ko is refused; the loaded killswitch passed the signature check"},
		{"lockdown alone enforces", func(w func(string, string), r func(string)) {
			w("sys/module/module/parameters/sig_enforce", "N\n")
			w("sys/kernel/security/lockdown", "none integrity [confidentiality]\n")
			unload(r)
		}, "warn module signatures are enforced (lockdown=confidentiality): an unsigned killswitch.ko is refused (make sign"},
		{"forced in the config", func(w func(string, string), r func(string)) {
			w("boot/config-"+fixtureRelease, preflighttest.Config+"CONFIG_MODULE_SIG_FORCE=y\n")
			w("sys/module/module/parameters/sig_enforce", "Y\n")
			unload(r)
			w(mods+"modules.dep", "extra/killswitch.ko:\n")
			w(mods+"extra/killswitch.ko", "\x7fELF...module...~Module signature appended~\n")
		}, "warn module signatures are enforced (CONFIG_MODULE_SIG_FORCE=y): an unsigned killswitch.ko is refused; the installed extra/killswitch.ko carries a signature"},
		{"enforced, installed module unsigned", func(w func(string, string), r func(string)) {
			w("sys/module/module/parameters/sig_enforce", "Y\n")
			unload(r)
			w(mods+"modules.dep", "extra/killswitch.ko:\n")
			w(mods+"extra/killswitch.ko", "\x7fELF...module")
		}, "refuse module signatures are enforced (module.sig_enforce=1): an unsigned killswitch.ko is refused; the installed extra/killswitch.ko is unsigned (make sign KEY="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := signing(t, tc.setup); !strings.HasPrefix(got, tc.want) {
				t.Errorf("signing finding\n got: %s\nwant: %s...", got, tc.want)
			}
		})
	}
}

// TestDoctorGuardOff: guard=0 warns, except under lockdown, where the
// module ignores it.
func TestDoctorGuardOff(t *testing.T) {
	for _, tc := range []struct{ lockdown, want string }{
		{"[none] integrity confidentiality\n", "warn module: killswitch module is loaded with guard=0: security checks can be made to pass"},
		{"none [integrity] confidentiality\n", "ok module: killswitch module is loaded with guard=0, which the module ignores under lockdown"},
	} {
		h, root := newFixture(t)
		for name, data := range map[string]string{
			"sys/module/killswitch/parameters/guard": "N\n",
			"sys/kernel/security/lockdown":           tc.lockdown,
		} {
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := doctorText(h.Doctor(DoctorOptions{})); !strings.Contains(got, tc.want) {
			t.Errorf("lockdown %q: doctor does not say %q:\n%s", strings.TrimSpace(tc.lockdown), tc.want, got)
		}
	}
}
