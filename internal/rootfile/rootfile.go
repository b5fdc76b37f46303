// Package rootfile opens files whose content decides what root does on the
// node: the BPF object ks-bpf-load loads, killswitchd's trust allowlist and
// policy-signing keys. Such a file must be what root put in place: a
// regular file (not a symlink), owned by root, writable by nobody else. The
// checks are made on the path, then again on the open descriptor, which is
// what the caller reads: a file swapped in between is refused.
package rootfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Root is the owner such files must have.
const Root = 0

// AnyOwner skips the owner and mode checks, for tools that only read the
// file to report on it (killswitchd validate in CI), never to act on it.
const AnyOwner = -1

// Open opens what, a file at path, for reading: path must be absolute and
// name a regular file owned by owner (Root outside tests) that neither its
// group nor others may write. what names the file in errors ("BPF
// object", "trust allowlist").
func Open(what, path string, owner int) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%s %s: not an absolute path (name it from /)", what, path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if err := Check(what, path, fi, owner); err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	ffi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s %s: fstat: %w", what, path, err)
	}
	if err := Check(what, path, ffi, owner); err != nil {
		f.Close()
		return nil, err
	}
	if !os.SameFile(fi, ffi) {
		f.Close()
		return nil, fmt.Errorf("%s %s: replaced while being opened: not used (try again)", what, path)
	}
	return f, nil
}

// Check checks what fi says of the file at path: a regular file of owner
// that only owner may write.
func Check(what, path string, fi fs.FileInfo, owner int) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s: a %s, not a regular file: not used (point at the file itself, not a link to it)", what, path, kind(fi.Mode()))
	}
	if owner == AnyOwner {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s %s: cannot tell its owner: not used", what, path)
	}
	if int(st.Uid) != owner {
		return fmt.Errorf("%s %s: owned by uid %d, not %d: not used (only root's files are trusted: chown root %s)", what, path, st.Uid, owner, path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s %s: mode %v lets others than its owner write it: not used (chmod go-w %s)", what, path, fi.Mode().Perm(), path)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}
