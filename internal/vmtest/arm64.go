package vmtest

// This file owns arm64: the QEMU machine, Debian's arm64 kernel fetched
// through dpkg multiarch, and the busybox that goes with it.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

// Arm64 is QEMU's virt board with an emulated CPU under TCG; busybox is the
// host path of a static arm64 busybox.
//
// Modules and the selftest helper are cross-compiled (ARCH=arm64,
// CROSS_COMPILE=aarch64-linux-gnu-: gcc-aarch64-linux-gnu and
// libc6-dev-arm64-cross). The virt board has one PL011 UART, the console.
// Debian builds VIRTIO_CONSOLE as a module, but the 8250 PCI driver and
// the generic PCIe host into the kernel, so the results channel is a PCI
// 16550 that the guest sees as /dev/ttyS0 before init runs.
func Arm64(busybox string) Arch {
	return Arch{
		Name:     "arm64",
		GOARCH:   "arm64",
		MakeVars: []string{"ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"},
		QEMU:     "qemu-system-aarch64",
		// Debian's kernel signs return addresses (PTR_AUTH_KERNEL) in
		// nearly every function. TCG's default QARMA pointer
		// authentication is expensive to emulate; the IMPLEMENTATION
		// DEFINED algorithm is as valid to the kernel and much cheaper.
		QEMUArgs:      []string{"-accel", "tcg", "-cpu", "max,pauth-impdef=on", "-machine", "virt"},
		Console:       "ttyAMA0",
		ResultsDevice: "/dev/ttyS0",
		ResultsArgs:   []string{"-device", "pci-serial,chardev=results"},
		Busybox:       busybox,
	}
}

// Debian61Arm64 is bookworm's arm64 kernel: whatever linux-image-arm64 and
// linux-headers-arm64 depend on, downloaded through dpkg multiarch (the
// host needs `dpkg --add-architecture arm64` and an apt-get update, which
// scripts/ensure-deps does). Modules are built against the arm64 headers
// with the host's linux-kbuild of the same version: the kbuild scripts are
// the same for every architecture, and its host programs (fixdep, modpost,
// genksyms) must run here. Debian's modpost wrapper picks the variant for
// the target's ELF class and byte order, so modversions CRCs and vermagic
// come out as the arm64 kernel expects. The arm64 vmlinuz is a plain Image,
// which qemu-system-aarch64 -kernel boots (it would also take a gzip'd one).
func Debian61Arm64() Source {
	return &debianSource{
		label:   "debian-6.1-arm64",
		resolve: resolveDebianArm64,
		arch: func(root string) Arch {
			return Arm64(filepath.Join(root, "bin", "busybox"))
		},
	}
}

// debArm64 qualifies a package name for dpkg multiarch.
func debArm64(name string) string { return name + ":arm64" }

func resolveDebianArm64(ctx context.Context, apt aptClient) (debianKernel, error) {
	image, headers := debArm64("linux-image-arm64"), debArm64("linux-headers-arm64")
	meta, err := showPackages(ctx, apt, image, headers)
	if err != nil {
		return debianKernel{}, fmt.Errorf("%w (arm64 packages need `dpkg --add-architecture arm64` and apt-get update: run scripts/ensure-deps)", err)
	}
	img, ok := firstMatch(dependNames(meta[image]["Depends"]), imagePkgRE)
	if !ok {
		return debianKernel{}, fmt.Errorf("%s depends on no linux-image-* package", image)
	}
	hdr, ok := firstMatch(dependNames(meta[headers]["Depends"]), headersPkgRE)
	if !ok {
		return debianKernel{}, fmt.Errorf("%s depends on no linux-headers-* package", headers)
	}
	k, err := resolveDebianKernel(ctx, apt, debArm64(img), debArm64(hdr))
	if err != nil {
		return debianKernel{}, err
	}
	// The headers' unqualified linux-kbuild dependency resolves to the
	// host's package; its programs must match the headers' version.
	if k.Kbuild.foreign() || k.Kbuild.Version != k.Headers.Version {
		return debianKernel{}, fmt.Errorf("the host's %s is %s (%s) but the arm64 headers are %s: a cross build needs the host's kbuild of the same version (mirror mid-update? retry after apt-get update)",
			k.Kbuild.Name, k.Kbuild.Version, k.Kbuild.Arch, k.Headers.Version)
	}
	bb := debArm64("busybox-static")
	pkgs, err := showPackages(ctx, apt, bb)
	if err != nil {
		return debianKernel{}, err
	}
	k.Busybox = pkgs[bb].pkg()
	return k, nil
}

// hostBusybox is the host's static busybox (busybox-static).
const hostBusybox = "/bin/busybox"

// listBusybox returns busybox --list-full for arch's busybox. A foreign
// busybox cannot run here, so the host's lists for it, after checking that
// both are the same build: the same version banner and the same applet
// name table (busybox-static of one Debian version has one configuration
// on every architecture).
func listBusybox(ctx context.Context, arch Arch) (string, error) {
	if arch.GOARCH == runtime.GOARCH {
		list, err := output(ctx, "", arch.Busybox, "--list-full")
		if err != nil {
			return "", fmt.Errorf("listing busybox applets: %w", err)
		}
		return list, nil
	}
	list, err := output(ctx, "", hostBusybox, "--list-full")
	if err != nil {
		return "", fmt.Errorf("listing %s busybox applets with the host's busybox (install busybox-static): %w", arch.Name, err)
	}
	host, err := os.ReadFile(hostBusybox)
	if err != nil {
		return "", fmt.Errorf("reading the host's busybox: %w", err)
	}
	foreign, err := os.ReadFile(arch.Busybox)
	if err != nil {
		return "", fmt.Errorf("reading the %s busybox: %w", arch.Name, err)
	}
	if err := sameBusyboxBuild(host, foreign, list); err != nil {
		return "", fmt.Errorf("cannot list the applets of %s with %s: %w (install the same busybox-static version as the %s one)",
			arch.Busybox, hostBusybox, err, arch.Name)
	}
	return list, nil
}

var busyboxBannerRE = regexp.MustCompile(`BusyBox v[0-9][^\x00)]*\)`)

// sameBusyboxBuild checks that two busybox binaries (of any architecture)
// are one version with one applet set: hostList is the first one's
// --list-full. Busybox keeps its applet names sorted in one
// NUL-separated table ending in an empty name.
func sameBusyboxBuild(host, foreign []byte, hostList string) error {
	hb, fb := busyboxBannerRE.Find(host), busyboxBannerRE.Find(foreign)
	if hb == nil || !bytes.Equal(hb, fb) {
		return fmt.Errorf("versions differ (%q, %q)", hb, fb)
	}
	var names []string
	for _, p := range strings.Fields(hostList) {
		names = append(names, path.Base(p))
	}
	if len(names) == 0 {
		return fmt.Errorf("the host's busybox lists no applets")
	}
	sort.Strings(names)
	table := []byte(strings.Join(names, "\x00") + "\x00\x00")
	if !bytes.Contains(foreign, table) {
		return fmt.Errorf("applet sets differ")
	}
	return nil
}
