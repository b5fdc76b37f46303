// This file owns opening the BPF object: the helper runs as root while
// the gate is open, so it loads only what root put in place.

package bpfload

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// objectOwner is the uid a BPF object must belong to: root, who alone may
// write the catalog's programs in /usr/lib/killswitch/mitigations.
const objectOwner = 0

// OpenObject opens a BPF object for loading: an absolute path to a regular
// file (not a symlink) owned by owner and writable by nobody else. The
// checks are made on the path first, then again on the open descriptor,
// which is what is loaded: a file swapped between the two is refused.
func OpenObject(path string, owner int) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("BPF object %s: not an absolute path (the helper runs from the kernel, with no working directory of the caller's)", path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if err := trustedObject(path, fi, owner); err != nil {
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
		return nil, fmt.Errorf("BPF object %s: fstat: %w", path, err)
	}
	if err := trustedObject(path, ffi, owner); err != nil {
		f.Close()
		return nil, err
	}
	if !os.SameFile(fi, ffi) {
		f.Close()
		return nil, fmt.Errorf("BPF object %s: replaced while being opened: not loaded (run the command again)", path)
	}
	return f, nil
}

// trustedObject checks what fi says of the file at path.
func trustedObject(path string, fi fs.FileInfo, owner int) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("BPF object %s: a %s, not a regular file: not loaded (point at the .bpf.o itself, not a link to it)", path, kind(fi.Mode()))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("BPF object %s: cannot tell its owner: not loaded", path)
	}
	if int(st.Uid) != owner {
		return fmt.Errorf("BPF object %s: owned by uid %d, not %d: not loaded (the helper loads only files root owns: chown root %s)", path, st.Uid, owner, path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("BPF object %s: mode %v lets others than its owner write it: not loaded (chmod go-w %s)", path, fi.Mode().Perm(), path)
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
