package testkernel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	final := writeFile(t, dir, ".config", `#
# Automatically generated file; DO NOT EDIT.
CONFIG_KPROBES=y
CONFIG_BPF_KPROBE_OVERRIDE=y
CONFIG_CRYPTO_USER_API_AEAD=m
CONFIG_LSM="lockdown"
# CONFIG_KASAN is not set
CONFIG_SERIAL_8250_NR_UARTS=4
`)
	tests := []struct {
		name     string
		fragment string
		wantErr  []string
	}{
		{"all present", "CONFIG_KPROBES=y\nCONFIG_CRYPTO_USER_API_AEAD=m\nCONFIG_LSM=\"lockdown\"\n# a comment\n", nil},
		{"not set honoured", "# CONFIG_KASAN is not set\n# CONFIG_ABSENT is not set\n", nil},
		{"numbers", "CONFIG_SERIAL_8250_NR_UARTS=4\n", nil},
		{"dropped", "CONFIG_KPROBES=y\nCONFIG_FAIL_FUNCTION=y\n", []string{"1 requested", "CONFIG_FAIL_FUNCTION=y (frag.config): got not set"}},
		{"module vs builtin", "CONFIG_CRYPTO_USER_API_AEAD=y\n", []string{"CONFIG_CRYPTO_USER_API_AEAD=y (frag.config): got m"}},
		{"string differs", "CONFIG_LSM=\"lockdown,yama\"\n", []string{`got "lockdown"`}},
		{"unset wanted", "# CONFIG_KPROBES is not set\n", []string{"CONFIG_KPROBES=n"}},
		{"several", "CONFIG_A=y\nCONFIG_B=m\n", []string{"2 requested", "CONFIG_A=y", "CONFIG_B=m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frag := writeFile(t, t.TempDir(), "frag.config", tt.fragment)
			err := CheckConfig(final, frag)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckConfig: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckConfig succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestProjectFragments checks the committed fragments parse and set what
// SPEC §6 says the engagebpf tests need.
func TestProjectFragments(t *testing.T) {
	base, err := readConfig("../../test/kernels/base.config")
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{
		"CONFIG_FUNCTION_ERROR_INJECTION", "CONFIG_BPF_KPROBE_OVERRIDE", "CONFIG_BPF_EVENTS",
		"CONFIG_KPROBE_EVENTS", "CONFIG_FAIL_FUNCTION", "CONFIG_KPROBES", "CONFIG_SECURITYFS",
		"CONFIG_SECURITY_LOCKDOWN_LSM", "CONFIG_MODULE_SIG", "CONFIG_DEBUG_INFO_BTF", "CONFIG_EVENTFD",
	} {
		if base[opt] != "y" {
			t.Errorf("base.config: %s=%q, want y", opt, base[opt])
		}
	}
	if !strings.Contains(base["CONFIG_LSM"], "lockdown") {
		t.Errorf("base.config: CONFIG_LSM=%s lacks lockdown", base["CONFIG_LSM"])
	}
	matches, err := filepath.Glob("../../test/kernels/*.config")
	if err != nil || len(matches) == 0 {
		t.Fatalf("no fragments found: %v", err)
	}
	for _, m := range matches {
		if _, err := readConfig(m); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func TestFindFragments(t *testing.T) {
	d, err := FindFragments() // the test runs in internal/testkernel
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(d) != "kernels" || filepath.Base(filepath.Dir(d)) != "test" {
		t.Fatalf("FindFragments = %s, want .../test/kernels", d)
	}
}
