package vmtest

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestResolveDebianArm64(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the captured apt output is an amd64 host's view")
	}
	got, err := resolveDebianArm64(context.Background(), newFakeApt(t))
	if err != nil {
		t.Fatal(err)
	}
	want := debianKernel{
		Image:   debPackage{"linux-image-6.1.0-56-arm64", "6.1.192-2", "arm64"},
		Headers: debPackage{"linux-headers-6.1.0-56-arm64", "6.1.192-2", "arm64"},
		Common:  debPackage{"linux-headers-6.1.0-56-common", "6.1.192-2", "all"},
		// The host's kbuild: its programs run on the build machine.
		Kbuild:  debPackage{"linux-kbuild-6.1", "6.1.192-2", "amd64"},
		Busybox: debPackage{"busybox-static", "1:1.35.0-4+deb12u1+b1", "arm64"},
	}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// apt-get download must get the arm64 packages, not the host's.
	var downloads []string
	for _, p := range got.packages() {
		downloads = append(downloads, p.String())
	}
	wantDownloads := "linux-image-6.1.0-56-arm64:arm64=6.1.192-2 linux-headers-6.1.0-56-arm64:arm64=6.1.192-2 " +
		"linux-headers-6.1.0-56-common=6.1.192-2 linux-kbuild-6.1=6.1.192-2 busybox-static:arm64=1:1.35.0-4+deb12u1+b1"
	if s := strings.Join(downloads, " "); s != wantDownloads {
		t.Errorf("downloads %s\nwant      %s", s, wantDownloads)
	}
	if f := got.Busybox.filename(); f != "busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb" {
		t.Errorf("busybox .deb name = %s", f)
	}
}

func TestResolveDebianArm64KbuildSkew(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the captured apt output is an amd64 host's view")
	}
	apt := newFakeApt(t)
	apt.show["linux-kbuild-6.1"] = strings.Replace(apt.show["linux-kbuild-6.1"], "Version: 6.1.192-2", "Version: 6.1.193-1", 1)
	_, err := resolveDebianArm64(context.Background(), apt)
	if err == nil || !strings.Contains(err.Error(), "kbuild of the same version") {
		t.Errorf("host kbuild newer than the arm64 headers: error = %v", err)
	}
}

func TestResolveDebianArm64NoMultiarch(t *testing.T) {
	apt := newFakeApt(t)
	delete(apt.show, "linux-image-arm64:arm64")
	_, err := resolveDebianArm64(context.Background(), apt)
	if err == nil || !strings.Contains(err.Error(), "dpkg --add-architecture arm64") {
		t.Errorf("without arm64 package lists: error = %v", err)
	}
}

func TestSameBusyboxBuild(t *testing.T) {
	list := "/bin/sh\n/usr/bin/[\n/usr/bin/[[\n/sbin/modprobe\n/bin/ash\n"
	// Names sorted with strcmp, NUL-separated, an empty name at the end.
	table := "[\x00[[\x00ash\x00modprobe\x00sh\x00\x00"
	banner := "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1)"
	host := []byte("\x7fELF..." + banner + " multi-call binary\x00..." + table + "...")
	tests := []struct {
		name    string
		foreign string
		wantErr string
	}{
		{"same build", "\x7fELF,,," + table + ",,," + banner + "\x00", ""},
		{"other version", "\x7fELF" + table + "BusyBox v1.36.1 (Debian 1:1.36.1-9)\x00", "versions differ"},
		{"no banner", "\x7fELF" + table, "versions differ"},
		{"fewer applets", "\x7fELF" + banner + "[\x00[[\x00ash\x00sh\x00\x00", "applet sets differ"},
		{"more applets", "\x7fELF" + banner + "[\x00[[\x00ash\x00modprobe\x00sh\x00zcat\x00\x00", "applet sets differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sameBusyboxBuild(host, []byte(tt.foreign), list)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestQEMUArgsArm64(t *testing.T) {
	k := &Kernel{Label: "debian-6.1-arm64", Arch: Arm64("/c/bin/busybox"), Release: "6.1.0-56-arm64", Image: "/c/vmlinuz"}
	c := vmConfig{Kernel: k, Initrd: "/r/initramfs.cpio.gz", MemoryMB: 2048, CPUs: 2, SuiteTimeout: 90 * time.Second}
	args := strings.Join(c.qemuArgs(), " ")
	for _, want := range []string{
		"-accel tcg -cpu max,pauth-impdef=on -machine virt", "-m 2048 -smp 2",
		"-kernel /c/vmlinuz -initrd /r/initramfs.cpio.gz",
		"console=ttyAMA0 panic=-1", "ks.arch=arm64 ks.results=/dev/ttyS0",
		"-serial mon:stdio -chardev file,id=results,path=/dev/fd/3 -device pci-serial,chardev=results",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("qemu args lack %q:\n%s", want, args)
		}
	}
	if k.Arch.QEMU != "qemu-system-aarch64" {
		t.Errorf("QEMU = %s", k.Arch.QEMU)
	}
}
