// Package vmtest is killswitch's VM test harness: it boots real kernels in
// QEMU with our modules and runs the in-VM suites, reporting per test.
//
// A run (cmd/ks-vmtest, or Run) does, for each selected kernel:
//
//  1. Acquire the kernel through its Source. Debian's stock kernels
//     (debian-6.1: whatever linux-image-amd64 depends on; debian-6.12: the
//     newest linux-image-6.12.*+deb12-amd64-unsigned; debian-6.1-arm64:
//     linux-image-arm64 through dpkg multiarch, with busybox-static:arm64
//     and the host's linux-kbuild for the cross build) are resolved with
//     apt-cache to exact versions, downloaded with apt-get download and
//     unpacked with dpkg-deb -x into one tree per kernel under
//     $KS_CACHE/debian/<image>_<version>/, never installed on the host. The
//     headers' Makefile is made relocatable and depmod generates
//     modules.dep (the .deb ships none). A stamp written last marks the
//     tree complete; a different package set replaces it.
//  2. Build kernel/ against the kernel's headers in a copy under
//     $KS_CACHE/build/<label>-<release>/ (kbuild writes into its source
//     directory), selftests/ for the architecture, and the guest's Go
//     programs statically (CGO_ENABLED=0): ks-vminit as /init,
//     cmd/killswitch, cmd/ks-bpf-load and cmd/killswitchd when they exist,
//     Go suites.
//  3. Write a gzip'd newc initramfs: static busybox with its applet links,
//     the stock modules the suites need (DefaultStockModules) decompressed
//     with their dependency closure and a regenerated modules.dep and
//     modules.alias, our modules in /lib/modules/<release>/extra/, and the
//     suites in /ks/suites/.
//  4. Boot qemu-system-x86_64 -accel tcg (never KVM: it hangs these
//     guests). The console (ttyS0) is captured to console.log; ks-vminit
//     writes results to the second serial port (ttyS1), which QEMU passes
//     to the harness through an inherited pipe, so lines stream live. An
//     arm64 kernel boots under qemu-system-aarch64 -M virt the same way,
//     with the console on the PL011 (ttyAMA0) and the results on a PCI
//     16550 (ttyS0); see Arm64.
//  5. Judge: every "not ok", a suite's non-zero exit, a timeout, a missing
//     summary, or a kernel log line matching the splat patterns (BUG:,
//     WARNING:, Oops, RCU stalls, lockdep, KASAN, UBSAN, ...) fails the
//     kernel. The last line sums all kernels as "N passed, M failed".
//
// # In-VM contract
//
// What suites can rely on is written down in test/vm/README.md; package
// guest implements the inside. In short: busybox,
// proc/sys/devtmpfs/devpts/tmpfs, securityfs, debugfs, tracefs and bpffs
// mounted; modules present but not loaded; suites run as root in lexical
// order with cwd /ks and KS_KERNEL, KS_ARCH set; results on stdout as
// "ok - name", "not ok - name: reason", "# text".
//
// # Suites
//
// A suite is an executable file in test/vm/suites/ (any language the guest
// can run: busybox sh, or a static binary), or a directory there holding a
// Go main package, which the harness builds statically. The seed selftest
// (selftests/killswitch_test.sh and its helper) runs as 10-selftest from
// /ks/selftests. Files in test/vm/lib/ are copied to /ks/lib/ for suites to
// share. A non-executable file or a directory without Go files in
// test/vm/suites/ is an error, never skipped.
//
// # Adding kernels
//
// Everything after acquisition works on a Kernel value: a custom build (for
// example internal/testkernel's output: bzImage, KDIR, modules directory,
// release) or another architecture needs only a Source returning one, and
// an entry in the Catalog. Architecture specifics (QEMU binary and machine,
// console and results devices, cross-compilation variables, busybox) live
// in Arch.
package vmtest
