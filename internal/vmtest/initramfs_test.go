package vmtest

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

type readEntry struct {
	mode cpio.FileMode
	data string
	link string
}

// readBack decodes an archive written by Initramfs.WriteTo with an
// independent reader (compress/gzip and the cpio library's reader).
func readBack(t *testing.T, archive []byte) ([]string, map[string]readEntry) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	r := cpio.NewReader(zr)
	var order []string
	entries := map[string]readEntry{}
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading archive: %v", err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("reading %s: %v", hdr.Name, err)
		}
		order = append(order, hdr.Name)
		entries[hdr.Name] = readEntry{mode: hdr.Mode, data: string(data), link: hdr.Linkname}
	}
	return order, entries
}

func TestInitramfsRoundTrip(t *testing.T) {
	host := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(host, []byte("#!/bin/sh\necho hi\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	img := NewInitramfs()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(img.AddFile("usr/sbin/tool", host, 0))
	must(img.AddData("/etc/passwd", 0o644, []byte("root:x:0:0::/root:/bin/sh\n")))
	must(img.AddSymlink("bin/sh", "busybox"))
	must(img.AddDir("tmp", 0o777|fs.ModeSticky))
	must(img.AddData("lib/modules/6.1.0/kernel/crypto/af_alg.ko", 0o644, []byte("\x7fELF...")))
	must(img.AddDir("tmp", 0o777|fs.ModeSticky)) // directories may be added twice

	if err := img.AddData("etc/passwd", 0o644, nil); err == nil {
		t.Error("adding a file twice succeeded")
	}
	if err := img.AddData("etc/passwd/x", 0o644, nil); err == nil {
		t.Error("adding below a file succeeded")
	}
	if err := img.AddData("/", 0o644, nil); err == nil {
		t.Error("adding the root as a file succeeded")
	}

	var buf bytes.Buffer
	n, err := img.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	order, got := readBack(t, buf.Bytes())

	want := map[string]readEntry{
		"usr":                             {mode: cpio.TypeDir | 0o755},
		"usr/sbin":                        {mode: cpio.TypeDir | 0o755},
		"usr/sbin/tool":                   {mode: cpio.TypeReg | 0o750, data: "#!/bin/sh\necho hi\n"},
		"etc/passwd":                      {mode: cpio.TypeReg | 0o644, data: "root:x:0:0::/root:/bin/sh\n"},
		"bin/sh":                          {mode: cpio.TypeSymlink | 0o777, link: "busybox"},
		"tmp":                             {mode: cpio.TypeDir | cpio.ModeSticky | 0o777},
		"lib/modules/6.1.0/kernel/crypto": {mode: cpio.TypeDir | 0o755},
		"lib/modules/6.1.0/kernel/crypto/af_alg.ko": {mode: cpio.TypeReg | 0o644, data: "\x7fELF..."},
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("archive lacks %s", name)
			continue
		}
		if g.mode != w.mode || g.data != w.data || g.link != w.link {
			t.Errorf("%s = %+v, want %+v", name, g, w)
		}
	}
	seen := map[string]bool{}
	for _, name := range order {
		if dir := filepath.Dir(name); dir != "." && !seen[dir] {
			t.Errorf("%s comes before its directory %s", name, dir)
		}
		seen[name] = true
	}

	var again bytes.Buffer
	if _, err := img.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("writing the same tree twice gave different archives")
	}
}

func TestInitramfsMissingHostFile(t *testing.T) {
	img := NewInitramfs()
	err := img.AddFile("init", filepath.Join(t.TempDir(), "nope"), 0o755)
	if err == nil || !strings.Contains(err.Error(), "init") {
		t.Errorf("AddFile of a missing host file: error = %v", err)
	}
}

func TestBusyboxApplets(t *testing.T) {
	got := busyboxApplets("usr/bin/[\nbin/sh\nlinuxrc\nsbin/init\ninit\nusr/sbin/chroot\n\n")
	want := []string{"usr/bin/[", "bin/sh", "sbin/init", "usr/sbin/chroot"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("busyboxApplets = %v, want %v", got, want)
	}
	for applet, target := range map[string]string{"bin/sh": "../bin/busybox", "usr/sbin/chroot": "../../bin/busybox"} {
		if got := relLink(applet); got != target {
			t.Errorf("relLink(%s) = %s, want %s", applet, got, target)
		}
	}
}
