package rootfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	me := os.Getuid()
	good := filepath.Join(dir, "good.bpf.o")
	writable := filepath.Join(dir, "writable.bpf.o")
	groupw := filepath.Join(dir, "groupw.bpf.o")
	link := filepath.Join(dir, "link.bpf.o")
	fifo := filepath.Join(dir, "fifo")
	for _, p := range []string{good, writable, groupw} {
		if err := os.WriteFile(p, []byte("ELF"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(writable, 0o646))
	must(os.Chmod(groupw, 0o664))
	must(os.Symlink(good, link))
	must(mkfifo(fifo))

	for _, tc := range []struct {
		name, path string
		owner      int
		want       string // "" for success
	}{
		{"root's regular file", good, me, ""},
		{"relative path", "good.bpf.o", me, "not an absolute path"},
		{"missing", filepath.Join(dir, "missing"), me, "no such file"},
		{"someone else's", good, me + 1, "owned by uid"},
		{"world-writable", writable, me, "chmod go-w"},
		{"group-writable", groupw, me, "chmod go-w"},
		{"symlink", link, me, "symbolic link"},
		{"directory", dir, me, "directory"},
		{"fifo", fifo, me, "named pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Open("BPF object", tc.path, tc.owner)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Open = %v", err)
				}
				f.Close()
				return
			}
			if err == nil {
				f.Close()
				t.Fatalf("Open(%s) succeeded, want %q", tc.path, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%s) = %v, want %q", tc.path, err, tc.want)
			}
		})
	}
}

// The descriptor is checked too: a file made writable after the path check
// but before loading is refused by the second (fstat) check.
func TestTrustedObjectOnDescriptor(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.bpf.o")
	if err := os.WriteFile(p, []byte("ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := Check("BPF object", p, fi, os.Getuid()); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Fatalf("Check after chmod = %v", err)
	}
}

func mkfifo(path string) error { return unix.Mkfifo(path, 0o600) }
