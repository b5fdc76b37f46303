package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, p string, perm os.FileMode, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverSuites(t *testing.T) {
	repo := t.TempDir()
	writeFile(t, filepath.Join(repo, "selftests", selftestScript), 0o755, "#!/bin/sh\n")
	writeFile(t, filepath.Join(repo, suitesDir, "00-boot"), 0o755, "#!/bin/sh\n")
	writeFile(t, filepath.Join(repo, suitesDir, "20-demo.sh"), 0o755, "#!/bin/sh\n")
	writeFile(t, filepath.Join(repo, suitesDir, "30-ksfs", "main.go"), 0o644, "package main\n")
	writeFile(t, filepath.Join(repo, suitesDir, "README.md"), 0o644, "docs\n")

	suites, err := discoverSuites(repo)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range suites {
		kind := map[bool]string{true: "script"}[s.Script != ""] + map[bool]string{true: "go"}[s.GoPkg != ""] + map[bool]string{true: "selftest"}[s.Selftest]
		got = append(got, s.Name+":"+kind)
	}
	if want := "00-boot:script 10-selftest:selftest 20-demo.sh:script 30-ksfs:go"; strings.Join(got, " ") != want {
		t.Errorf("discoverSuites = %v, want %s", got, want)
	}
	if suites[3].GoPkg != "./test/vm/suites/30-ksfs" {
		t.Errorf("Go suite package = %q", suites[3].GoPkg)
	}

	sel, err := selectSuites(suites, "0*, 30-*")
	if err != nil || len(sel) != 2 || sel[0].Name != "00-boot" || sel[1].Name != "30-ksfs" {
		t.Errorf("selectSuites(0*, 30-*) = %v, %v", sel, err)
	}
	if _, err := selectSuites(suites, "99-*"); err == nil || !strings.Contains(err.Error(), "00-boot") {
		t.Errorf("a filter matching nothing: error = %v", err)
	}
	if _, err := selectSuites(suites, "[x"); err == nil {
		t.Error("a bad glob was accepted")
	}

	// A suite that would not run must stop the run, not vanish.
	writeFile(t, filepath.Join(repo, suitesDir, "40-forgot-chmod"), 0o644, "#!/bin/sh\n")
	if _, err := discoverSuites(repo); err == nil || !strings.Contains(err.Error(), "40-forgot-chmod") {
		t.Errorf("non-executable suite: error = %v", err)
	}
	os.Remove(filepath.Join(repo, suitesDir, "40-forgot-chmod"))
	os.MkdirAll(filepath.Join(repo, suitesDir, "50-empty"), 0o755)
	if _, err := discoverSuites(repo); err == nil || !strings.Contains(err.Error(), "50-empty") {
		t.Errorf("directory without Go files: error = %v", err)
	}
}

func TestQEMUArgs(t *testing.T) {
	k := &Kernel{Label: "debian-6.1", Arch: X86_64(), Release: "6.1.0-56-amd64", Image: "/c/vmlinuz", Cmdline: []string{"lockdown=integrity"}}
	c := vmConfig{Kernel: k, Initrd: "/r/initramfs.cpio.gz", MemoryMB: 2048, CPUs: 2, SuiteTimeout: 90 * time.Second}
	args := strings.Join(c.qemuArgs(), " ")
	for _, want := range []string{
		"-accel tcg -cpu max", "-m 2048 -smp 2", "-nographic -no-reboot",
		"-kernel /c/vmlinuz -initrd /r/initramfs.cpio.gz",
		"console=ttyS0 panic=-1", "ks.label=debian-6.1 ks.arch=x86_64 ks.results=/dev/ttyS1 ks.suite_timeout=90 no_timer_check lockdown=integrity",
		"-serial mon:stdio -chardev file,id=results,path=/dev/fd/3 -serial chardev:results",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("qemu args lack %q:\n%s", want, args)
		}
	}
	if strings.Contains(args, "kvm") {
		t.Errorf("qemu args use KVM, which hangs these guests: %s", args)
	}
}

func TestFixupDebianTree(t *testing.T) {
	root := t.TempDir()
	rel := "6.1.0-56-amd64"
	kdir := filepath.Join(root, "usr/src/linux-headers-"+rel)
	writeFile(t, filepath.Join(kdir, "Makefile"), 0o644, "include /usr/src/linux-headers-6.1.0-56-common/Makefile\n")
	mods := filepath.Join(root, "lib/modules", rel)
	os.MkdirAll(mods, 0o755)
	os.Symlink("/usr/src/linux-headers-"+rel, filepath.Join(mods, "build"))

	if err := fixupDebianTree(root, rel); err != nil {
		t.Fatal(err)
	}
	mk, _ := os.ReadFile(filepath.Join(kdir, "Makefile"))
	if !strings.Contains(string(mk), "include $(dir $(lastword $(MAKEFILE_LIST)))../linux-headers-6.1.0-56-common/Makefile\n") {
		t.Errorf("Makefile not rewritten:\n%s", mk)
	}
	if target, _ := os.Readlink(filepath.Join(mods, "build")); target != "../../../usr/src/linux-headers-"+rel {
		t.Errorf("build link = %q", target)
	}
	if _, err := os.Stat(filepath.Join(mods, "build", "Makefile")); err != nil {
		t.Errorf("build link does not resolve: %v", err)
	}
}

func TestRunsSuite(t *testing.T) {
	dedicatedSuites["80-only-here"] = true
	defer delete(dedicatedSuites, "80-only-here")
	stock := &Kernel{}
	special := &Kernel{Suites: "00-boot, 80-*"}
	for _, c := range []struct {
		k    *Kernel
		name string
		want bool
	}{
		{stock, "00-boot", true},
		{stock, "80-only-here", false},
		{stock, "85-bench", false}, // make bench's suite: ks-6.1-bench only
		{&Kernel{Suites: "85-bench"}, "85-bench", true},
		{special, "00-boot", true},
		{special, "80-only-here", true},
		{special, "20-filters", false},
	} {
		if got := c.k.runsSuite(c.name); got != c.want {
			t.Errorf("Kernel{Suites: %q}.runsSuite(%s) = %v, want %v", c.k.Suites, c.name, got, c.want)
		}
	}
}

// TestSecureBootSuiteIsDedicated: 80-secureboot needs a signature-enforcing,
// locked-down boot; it must not run on any other kernel.
func TestSecureBootSuiteIsDedicated(t *testing.T) {
	for _, c := range []struct {
		k    *Kernel
		want bool
	}{
		{&Kernel{}, false}, // a stock kernel
		{&Kernel{Suites: "30-engagebpf,40-bpf-load*"}, false}, // ks-6.1
		{&Kernel{Suites: "80-secureboot,70-privilege"}, true}, // the lockdown boots
	} {
		if got := c.k.runsSuite("80-secureboot"); got != c.want {
			t.Errorf("Kernel{Suites: %q}.runsSuite(80-secureboot) = %v, want %v", c.k.Suites, got, c.want)
		}
	}
}

func TestSuiteEnv(t *testing.T) {
	k := &Kernel{Label: "ks-6.1-debug", Arch: X86_64(), Env: map[string]string{"KS_STRESS_DURATION": "5m", "KS_KMEMLEAK": "1"}}
	env := mergeEnv(k.Env, map[string]string{"KS_STRESS_DURATION": "30m"})
	if err := checkEnv(env); err != nil {
		t.Fatal(err)
	}
	c := vmConfig{Kernel: k, SuiteTimeout: time.Minute, Env: env}
	if want := "ks.suite_timeout=60 ks.env=KS_KMEMLEAK=1 ks.env=KS_STRESS_DURATION=30m no_timer_check"; !strings.Contains(c.cmdline(), want) {
		t.Errorf("cmdline %q lacks %q", c.cmdline(), want)
	}
	if k.Env["KS_STRESS_DURATION"] != "5m" {
		t.Errorf("mergeEnv changed the kernel's own Env: %v", k.Env)
	}
	for _, bad := range []map[string]string{
		{"PATH": "/x"}, {"KS_KERNEL": "x"}, {"KS_ARCH": "x"}, {"ks_lower": "x"}, {"KS_": "x"},
		{"KS_X": "a b"}, {"KS_X": "a\"b"}, {"KS_X": "\n"}, {"KS_X": "é"},
	} {
		if err := checkEnv(bad); err == nil {
			t.Errorf("checkEnv(%q) accepted it", bad)
		}
	}
	if err := checkEnv(map[string]string{"KS_X": ""}); err != nil {
		t.Errorf("checkEnv refused an empty value: %v", err)
	}
}

func TestQEMUAccel(t *testing.T) {
	k := &Kernel{Label: "ks-6.1", Arch: X86_64(), Image: "/k", Accel: "tcg,thread=single"}
	args := strings.Join(vmConfig{Kernel: k, MemoryMB: 64, CPUs: 2}.qemuArgs(), " ")
	if !strings.Contains(args, "-accel tcg,thread=single -cpu max") || strings.Count(args, "-accel") != 1 {
		t.Errorf("qemu args %q: want exactly one -accel tcg,thread=single", args)
	}
	if a := X86_64().QEMUArgs; strings.Join(a, " ") != "-accel tcg -cpu max -machine pc" {
		t.Errorf("Kernel.Accel changed the architecture's own arguments: %q", a)
	}
}

func TestLaunchOrder(t *testing.T) {
	labels := []string{"a", "slow", "b", "failed", "slower"}
	kernels := map[string]*Kernel{
		"a":      {},
		"slow":   {SuiteTimeout: 15 * time.Minute},
		"b":      {},
		"slower": {SuiteTimeout: 20 * time.Minute},
	}
	got := fmt.Sprint(launchOrder(labels, kernels))
	if want := "[4 1 0 2 3]"; got != want {
		t.Errorf("launchOrder = %s, want %s", got, want)
	}
}
