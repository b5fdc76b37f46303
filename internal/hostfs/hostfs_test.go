package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	root := t.TempDir()
	d := Dir(root)
	if err := os.MkdirAll(filepath.Join(root, "proc/sys/kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 200<<10) + "\n"
	if err := os.WriteFile(filepath.Join(root, "proc/sys/kernel/big"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}

	got, err := d.ReadFile("/proc/sys/kernel/big")
	if err != nil || string(got) != big {
		t.Fatalf("ReadFile: %d bytes, %v", len(got), err)
	}
	if _, err := d.ReadFile("/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile(missing) = %v, want ErrNotExist", err)
	}
	if err := d.WriteFile("/missing", []byte("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteFile must not create files, got %v", err)
	}
	if err := d.WriteFile("/proc/sys/kernel/big", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.ReadFile("/proc/sys/kernel/big"); got[0] != 'y' || len(got) != len(big) {
		t.Fatal("WriteFile must not truncate")
	}
	if !Exists(d, "/proc/sys") || Exists(d, "/nope") {
		t.Fatal("Exists")
	}
	ents, err := d.ReadDir("/proc/sys/kernel")
	if err != nil || len(ents) != 1 {
		t.Fatalf("ReadDir: %v %v", ents, err)
	}
	if err := d.RemoveAll("/proc/sys"); err != nil || Exists(d, "/proc/sys") {
		t.Fatalf("RemoveAll: %v", err)
	}
}

// TestReadKmsg drains the real kernel log when the test may read it; it
// proves ReadFile returns at the end of /dev/kmsg instead of blocking.
func TestReadKmsg(t *testing.T) {
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		t.Skip("no /dev/kmsg")
	}
	_, err := Dir("/").ReadFile("/dev/kmsg")
	if errors.Is(err, fs.ErrPermission) {
		t.Skip("kernel log not readable:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}
