package vmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsePrebuilt(t *testing.T) {
	dir := t.TempDir()
	rel := filepath.Join(dir, "6.1.0-56-amd64", "x86_64", "module")
	if err := os.MkdirAll(rel, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rel, "killswitch.ko.xz"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	k := &Kernel{Label: "debian-6.1", Release: "6.1.0-56-amd64", Arch: Arch{Name: "x86_64"}}
	built := []string{"/c/build/killswitch.ko", "/c/build/test_killswitch.ko"}

	all, pre, err := usePrebuilt(built, filepath.Join(dir, "{release}", "{arch}", "module"), k)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(rel, "killswitch.ko.xz") + " /c/build/test_killswitch.ko"
	if got := strings.Join(all, " "); got != want {
		t.Errorf("modules %q, want %q", got, want)
	}
	if len(pre) != 1 {
		t.Errorf("prebuilt %v", pre)
	}

	k.Release = "6.12.1"
	if _, _, err := usePrebuilt(built, filepath.Join(dir, "{release}"), k); err == nil || !strings.Contains(err.Error(), "no modules in") {
		t.Errorf("a missing build was accepted: %v", err)
	}
}
