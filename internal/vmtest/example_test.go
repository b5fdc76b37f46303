package vmtest_test

import (
	"bytes"
	"fmt"

	"github.com/killswitch/killswitch/internal/vmtest"
)

// An initramfs is assembled as a tree and written as one gzip'd newc
// archive; parent directories are created as needed.
func ExampleInitramfs() {
	img := vmtest.NewInitramfs()
	_ = img.AddData("ks/suites/00-hello", 0o755, []byte("#!/bin/sh\necho 'ok - hello'\n"))
	_ = img.AddSymlink("bin/sh", "busybox")
	var buf bytes.Buffer
	if _, err := img.WriteTo(&buf); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(img.Has("ks/suites"), img.Has("bin/sh"), buf.Len() > 0)
	// Output: true true true
}

// ScanSplats picks the kernel's bug reports out of a log; the module's own
// audit lines (KERN_WARNING, but without "WARNING:") are not among them.
func ExampleScanSplats() {
	log := []string{
		"[    5.100000] killswitch: engage af_alg_sendmsg retval=-1 uid=0 auid=0 ses=1 comm=sh",
		"[    6.000000] WARNING: CPU: 1 PID: 77 at kernel/kprobes.c:1234 arm_kprobe+0x10/0x20",
	}
	for _, l := range vmtest.ScanSplats(log) {
		fmt.Println(l)
	}
	// Output: [    6.000000] WARNING: CPU: 1 PID: 77 at kernel/kprobes.c:1234 arm_kprobe+0x10/0x20
}

// Module names are what modprobe takes, whatever the file is called.
func ExampleModuleName() {
	fmt.Println(vmtest.ModuleName("kernel/lib/crypto/libcurve25519-generic.ko.xz"))
	// Output: libcurve25519_generic
}
