package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SUDO_USER is the caller's to set; it must never shape save's file.
func TestDescribeUser(t *testing.T) {
	for _, tc := range []struct {
		sudo, want string
	}{
		{"", "root (uid 0)"},
		{"alice", "alice via sudo as root (uid 0)"},
		{"svc-deploy.1", "svc-deploy.1 via sudo as root (uid 0)"},
		{"host$", "host$ via sudo as root (uid 0)"},
		{"x\ninstall af_alg /bin/sh -c id", `an unrecognised SUDO_USER "x\ninstall af_alg /bin/sh -c id" via sudo as root (uid 0)`},
		{"-rf", `an unrecognised SUDO_USER "-rf" via sudo as root (uid 0)`},
		{"é", `an unrecognised SUDO_USER "\u00e9" via sudo as root (uid 0)`},
	} {
		got := describeUser("root", 0, tc.sudo)
		if got != tc.want {
			t.Errorf("describeUser(SUDO_USER=%q) = %q, want %q", tc.sudo, got, tc.want)
		}
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("describeUser(SUDO_USER=%q) spans lines: %q", tc.sudo, got)
		}
	}
}

// Whatever Env.User says, save's header stays a comment of two lines.
func TestSaveHeaderOneLine(t *testing.T) {
	h := newHarness(t)
	h.env.User = func() string { return "mallory\noptions killswitch engage=vfs_read=-5\r" }
	file := filepath.Join(t.TempDir(), "killswitch.conf")
	h.run("engage", "ks_test_vuln", "-1")
	h.run("save", "--file", file)
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "# ") || !strings.HasPrefix(lines[1], "# ") ||
		lines[2] != "options killswitch engage=ks_test_vuln=-1" {
		t.Errorf("saved file:\n%s", got)
	}
}
