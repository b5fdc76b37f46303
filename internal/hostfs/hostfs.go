package hostfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// FS is the host filesystem as killswitch uses it. Names are absolute host
// paths such as "/sys/kernel/security/killswitch/control".
type FS interface {
	// ReadFile returns the whole content of a file. It never blocks waiting
	// for more data, so it also drains character devices such as /dev/kmsg.
	ReadFile(name string) ([]byte, error)
	// WriteFile writes data with a single write(2) to an existing file,
	// without truncating or creating it: the semantics of a kernel
	// control file. The error wraps the errno the kernel returned.
	WriteFile(name string, data []byte) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// Stat describes a file.
	Stat(name string) (fs.FileInfo, error)
	// RemoveAll removes a file or directory tree; a missing name is not an
	// error.
	RemoveAll(name string) error
}

// Dir is an FS rooted at a directory of the real filesystem: "/" for the
// running host, a temporary directory in tests.
type Dir string

var _ FS = Dir("/")

// Path returns where name lives on the real filesystem.
func (d Dir) Path(name string) string {
	return filepath.Join(string(d), filepath.FromSlash(name))
}

// ReadFile implements FS.
//
// The file is opened non-blocking and read with plain read(2) calls until
// end of file or EAGAIN. os.File cannot be used: for a pollable device like
// /dev/kmsg it parks the goroutine at the end of the data instead of
// returning. /dev/kmsg returns one record per read and EPIPE when records
// were overwritten while reading; both are handled.
func (d Dir) ReadFile(name string) ([]byte, error) {
	path := d.Path(name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)

	var out bytes.Buffer
	// Large enough for the longest /dev/kmsg record (CONSOLE_EXT_LOG_MAX
	// is 8 KiB); the device refuses smaller buffers with EINVAL.
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EPIPE):
			continue
		case errors.Is(err, unix.EAGAIN):
			return out.Bytes(), nil
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return out.Bytes(), nil
		}
		out.Write(buf[:n])
	}
}

// WriteFile implements FS.
func (d Dir) WriteFile(name string, data []byte) error {
	path := d.Path(name)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	if cerr != nil {
		return fmt.Errorf("close %s: %w", path, cerr)
	}
	return nil
}

// ReadDir implements FS.
func (d Dir) ReadDir(name string) ([]fs.DirEntry, error) {
	return os.ReadDir(d.Path(name))
}

// Stat implements FS.
func (d Dir) Stat(name string) (fs.FileInfo, error) {
	return os.Stat(d.Path(name))
}

// RemoveAll implements FS.
func (d Dir) RemoveAll(name string) error {
	return os.RemoveAll(d.Path(name))
}

// Exists reports whether name exists. Errors other than "does not exist"
// (permission denied, for instance) count as existing: the caller will meet
// them again when it uses the file, with a better message.
func Exists(fsys FS, name string) bool {
	_, err := fsys.Stat(name)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
