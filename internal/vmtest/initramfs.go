package vmtest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/gzip"
)

// Initramfs is an initramfs under construction: a tree of directories,
// files and symlinks, written as a gzip-compressed newc cpio archive.
type Initramfs struct {
	entries map[string]*entry
}

type entryKind int

const (
	kindDir entryKind = iota
	kindFile
	kindSymlink
)

type entry struct {
	kind   entryKind
	perm   fs.FileMode
	data   []byte // file content held in memory
	source string // or a host file read at write time
	target string // symlink target
}

// NewInitramfs returns an empty tree.
func NewInitramfs() *Initramfs {
	return &Initramfs{entries: map[string]*entry{}}
}

// clean normalises an archive path: relative to the root, no "." or "..".
func clean(p string) (string, error) {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" {
		return "", fmt.Errorf("initramfs: invalid path %q", p)
	}
	return c, nil
}

func (f *Initramfs) add(p string, e *entry) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if err := f.mkdirAll(path.Dir(c)); err != nil {
		return err
	}
	if old, ok := f.entries[c]; ok {
		if old.kind == kindDir && e.kind == kindDir {
			return nil
		}
		return fmt.Errorf("initramfs: %s added twice", c)
	}
	f.entries[c] = e
	return nil
}

func (f *Initramfs) mkdirAll(dir string) error {
	if dir == "." || dir == "/" || dir == "" {
		return nil
	}
	if e, ok := f.entries[dir]; ok {
		if e.kind != kindDir {
			return fmt.Errorf("initramfs: %s is not a directory", dir)
		}
		return nil
	}
	if err := f.mkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	f.entries[dir] = &entry{kind: kindDir, perm: 0o755}
	return nil
}

// AddDir adds a directory (and its parents).
func (f *Initramfs) AddDir(p string, perm fs.FileMode) error {
	return f.add(p, &entry{kind: kindDir, perm: perm})
}

// AddData adds a file with the given content.
func (f *Initramfs) AddData(p string, perm fs.FileMode, data []byte) error {
	return f.add(p, &entry{kind: kindFile, perm: perm, data: data})
}

// AddFile adds a copy of a host file, read when the archive is written. A
// zero perm keeps the host file's permission bits.
func (f *Initramfs) AddFile(p, source string, perm fs.FileMode) error {
	st, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("initramfs: adding %s: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: adding %s: %s is not a regular file", p, source)
	}
	if perm == 0 {
		perm = st.Mode().Perm()
	}
	return f.add(p, &entry{kind: kindFile, perm: perm, source: source})
}

// AddSymlink adds a symbolic link.
func (f *Initramfs) AddSymlink(p, target string) error {
	return f.add(p, &entry{kind: kindSymlink, perm: 0o777, target: target})
}

// Has reports whether p is in the tree.
func (f *Initramfs) Has(p string) bool {
	c, err := clean(p)
	if err != nil {
		return false
	}
	_, ok := f.entries[c]
	return ok
}

// WriteTo writes the gzip-compressed cpio archive. Entries are sorted, so
// directories precede their contents and equal trees give equal archives.
func (f *Initramfs) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	zw, err := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	if err != nil {
		return 0, fmt.Errorf("initramfs: %w", err)
	}
	if err := f.writeCPIO(zw); err != nil {
		return cw.n, err
	}
	if err := zw.Close(); err != nil {
		return cw.n, fmt.Errorf("initramfs: compressing: %w", err)
	}
	return cw.n, nil
}

func (f *Initramfs) writeCPIO(w io.Writer) error {
	names := make([]string, 0, len(f.entries))
	for n := range f.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	// A fixed time keeps archives reproducible.
	mtime := time.Unix(0, 0)
	cw := cpio.NewWriter(w)
	for _, n := range names {
		e := f.entries[n]
		hdr := &cpio.Header{Name: n, ModTime: mtime, Mode: cpioPerm(e.perm)}
		if err := writeEntry(cw, hdr, e); err != nil {
			return fmt.Errorf("initramfs: writing %s: %w", n, err)
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: closing archive: %w", err)
	}
	return nil
}

// cpioPerm converts permission bits, including the ones Go keeps outside
// Perm() (setuid, setgid, sticky).
func cpioPerm(m fs.FileMode) cpio.FileMode {
	p := cpio.FileMode(m.Perm())
	for _, b := range []struct {
		goBit   fs.FileMode
		cpioBit cpio.FileMode
	}{{fs.ModeSetuid, cpio.ModeSetuid}, {fs.ModeSetgid, cpio.ModeSetgid}, {fs.ModeSticky, cpio.ModeSticky}} {
		if m&b.goBit != 0 {
			p |= b.cpioBit
		}
	}
	return p
}

func writeEntry(cw *cpio.Writer, hdr *cpio.Header, e *entry) error {
	switch e.kind {
	case kindDir:
		hdr.Mode |= cpio.TypeDir
		hdr.Links = 2
		return cw.WriteHeader(hdr)
	case kindSymlink:
		// newc stores the link target as the entry's content.
		hdr.Mode |= cpio.TypeSymlink
		hdr.Links = 1
		hdr.Size = int64(len(e.target))
		if err := cw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.WriteString(cw, e.target)
		return err
	}
	hdr.Mode |= cpio.TypeReg
	hdr.Links = 1
	if e.source == "" {
		hdr.Size = int64(len(e.data))
		if err := cw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := cw.Write(e.data)
		return err
	}
	src, err := os.Open(e.source)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	hdr.Size = st.Size()
	if err := cw.WriteHeader(hdr); err != nil {
		return err
	}
	if n, err := io.Copy(cw, src); err != nil {
		return err
	} else if n != hdr.Size {
		return fmt.Errorf("%s changed size while being archived", e.source)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
