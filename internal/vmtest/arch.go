package vmtest

// Arch is what differs between machine architectures: how to build for them
// and how QEMU boots them. Adding arm64 means adding a constructor here and
// a Source that produces arm64 Kernels.
type Arch struct {
	// Name is the value of KS_ARCH in the guest: "x86_64" or "arm64".
	Name string
	// GOARCH builds the guest's Go binaries.
	GOARCH string
	// MakeVars are passed to every kbuild and selftest make invocation
	// (ARCH=, CROSS_COMPILE=, CC= for cross builds).
	MakeVars []string
	// QEMU is the emulator binary; QEMUArgs select machine, CPU and
	// accelerator.
	QEMU     string
	QEMUArgs []string
	// Console is the kernel console device (console=...); QEMU's first
	// serial port, captured to the console log.
	Console string
	// ResultsDevice is the guest path of the results channel and
	// ResultsArgs attach it in QEMU to the chardev with id "results".
	ResultsDevice string
	ResultsArgs   []string
	// Busybox is the host path of a static busybox for this architecture.
	Busybox string
	// Cmdline is added to every kernel command line for this architecture.
	Cmdline []string
}

// X86_64 is a PC under TCG. KVM is deliberately not used: it hangs these
// guests on the build machines.
func X86_64() Arch {
	return Arch{
		Name:          "x86_64",
		GOARCH:        "amd64",
		QEMU:          "qemu-system-x86_64",
		QEMUArgs:      []string{"-accel", "tcg", "-cpu", "max", "-machine", "pc"},
		Console:       "ttyS0",
		ResultsDevice: "/dev/ttyS1",
		ResultsArgs:   []string{"-serial", "chardev:results"},
		Busybox:       "/bin/busybox",
		// On a busy host TCG misses the IO-APIC timer check's window and
		// the kernel panics at boot ("IO-APIC + timer doesn't work").
		Cmdline: []string{"no_timer_check"},
	}
}
