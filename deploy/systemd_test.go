package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const unit = "systemd/killswitchd.service"

// TestSystemdUnit verifies the unit with systemd-analyze (offline: nothing
// is started) and judges its sandbox with systemd-analyze security.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{
		"CapabilityBoundingSet=CAP_SYS_ADMIN CAP_SYS_MODULE CAP_SYSLOG\n",
		"ProtectSystem=strict\n",
		"ReadWritePaths=/run/killswitchd\n",
		"NoNewPrivileges=yes\n",
		"RuntimeDirectoryPreserve=yes\n",
		" --trust=catalog\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q", unit, strings.TrimSpace(want))
		}
	}
	for _, bad := range []string{"ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "PrivateDevices=yes"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s: %s would stop the agent (read-only /sys, no modprobe, no /dev/kmsg)", unit, bad)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	// verify wants the binary to exist: stand in with one that does.
	dir := t.TempDir()
	copyUnit := filepath.Join(dir, "killswitchd.service")
	stand := "/bin/true"
	if err := os.WriteFile(copyUnit, []byte(strings.ReplaceAll(text, "/usr/sbin/killswitchd", stand)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyUnit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err = exec.Command(analyze, "security", "--offline=yes", copyUnit).CombinedOutput()
	if err != nil {
		t.Skipf("systemd-analyze security --offline: %v (older systemd?)\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for killswitchd.service: ([0-9.]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security exposure: %.1f (0 best, 10 worst; a root service with CAP_SYS_ADMIN and CAP_SYS_MODULE cannot go much lower)", score)
	if score > 4.0 {
		t.Errorf("exposure %.1f, want at most 4.0: the sandbox regressed\n%s", score, out)
	}
}
