package vmtest

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
)

// guestFiles is what every initramfs of one architecture holds; only the
// modules differ per kernel.
type guestFiles struct {
	busybox  string
	applets  []string
	init     string            // host path of ks-vminit
	binaries map[string]string // guest path -> host path
	suites   map[string]string // suite name -> host path
	// selftestDir is the built copy of selftests/ ("" when absent).
	selftestDir string
	// runSelftest installs the seed selftest as a suite of its own.
	runSelftest bool
	// libDir is test/vm/lib ("" when absent).
	libDir string
	// bpfDir holds the compiled BPF programs for /ks/bpf ("" when absent).
	bpfDir string
}

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group  = "root:x:0:\nnogroup:x:65534:\n"
	// selftestWrapper runs the seed selftest from its own directory, with
	// its helper on PATH, whatever way the script looks for it.
	selftestWrapper = "#!/bin/sh\n# Installed by ks-vmtest: the seed selftest, run from /ks/selftests.\n" +
		"cd /ks/selftests && PATH=/ks/selftests:$PATH exec ./" + selftestScript + "\n"
)

// initramfs assembles the tree for one kernel, with the suites runs keeps.
func (g *guestFiles) initramfs(mods *ModuleSet, runs func(suite string) bool) (*Initramfs, error) {
	img := NewInitramfs()
	steps := []func(*Initramfs) error{
		g.addBase,
		mods.AddTo,
		func(f *Initramfs) error { return g.addSuites(f, runs) },
	}
	for _, step := range steps {
		if err := step(img); err != nil {
			return nil, err
		}
	}
	return img, nil
}

func (g *guestFiles) addBase(f *Initramfs) error {
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "etc", "mnt", "var/tmp", "ks/suites"} {
		if err := f.AddDir(d, 0o755); err != nil {
			return err
		}
	}
	if err := f.AddDir("tmp", 0o777|fs.ModeSticky); err != nil {
		return err
	}
	if err := f.AddDir("root", 0o700); err != nil {
		return err
	}
	if err := f.AddFile("bin/busybox", g.busybox, 0o755); err != nil {
		return err
	}
	for _, a := range g.applets {
		if a == "bin/busybox" || f.Has(a) {
			continue
		}
		if err := f.AddSymlink(a, relLink(a)); err != nil {
			return err
		}
	}
	if err := f.AddFile("init", g.init, 0o755); err != nil {
		return err
	}
	for dest, src := range g.binaries {
		if err := f.AddFile(dest, src, 0o755); err != nil {
			return err
		}
	}
	if err := f.AddData("etc/passwd", 0o644, []byte(passwd)); err != nil {
		return err
	}
	return f.AddData("etc/group", 0o644, []byte(group))
}

func (g *guestFiles) addSuites(f *Initramfs, runs func(suite string) bool) error {
	for name, src := range g.suites {
		if !runs(name) {
			continue
		}
		if err := f.AddFile("ks/suites/"+name, src, 0o755); err != nil {
			return err
		}
	}
	if g.selftestDir != "" {
		if g.runSelftest && runs(selftestSuite) {
			if err := f.AddData("ks/suites/"+selftestSuite, 0o755, []byte(selftestWrapper)); err != nil {
				return err
			}
		}
		skip := func(name string) bool {
			for _, pat := range []string{"*.c", "*.h", "*.o", "Makefile", ".*"} {
				if ok, _ := path.Match(pat, name); ok {
					return true
				}
			}
			return false
		}
		if err := addTree(f, g.selftestDir, "ks/selftests", skip); err != nil {
			return err
		}
	}
	if g.libDir != "" {
		if err := addTree(f, g.libDir, "ks/lib", func(string) bool { return false }); err != nil {
			return err
		}
	}
	if g.bpfDir != "" {
		if err := addTree(f, g.bpfDir, "ks/bpf", func(string) bool { return false }); err != nil {
			return err
		}
	}
	return nil
}

// addTree adds the regular files under src (keeping their modes) at dest.
func addTree(f *Initramfs, src, dest string, skip func(name string) bool) error {
	return walkTree(src, skip, func(p, rel string, d fs.DirEntry) error {
		if !d.Type().IsRegular() {
			return nil
		}
		if err := f.AddFile(path.Join(dest, filepath.ToSlash(rel)), p, 0); err != nil {
			return fmt.Errorf("adding %s: %w", strings.TrimPrefix(p, src), err)
		}
		return nil
	})
}
