package preflight

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/killswitch/killswitch/internal/hostfs"
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
