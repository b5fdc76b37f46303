// Package guest is the inside of a test VM: the logic of ks-vminit, the
// static Go program the harness installs as /init in the initramfs.
//
// As PID 1 it mounts the filesystems the in-VM contract promises
// (internal/vmtest's doc lists them), runs every executable in /ks/suites in
// lexical order with a per-suite timeout, forwards their output to the
// results channel (a second serial port) using the vmproto line protocol,
// dumps the kernel log, prints the summary and powers the machine off.
//
// PID 1 must never return: the kernel panics when init exits. Main therefore
// ends every path, panics included, in a power-off.
//
// Settings come from the kernel command line, written by the host harness:
//
//	ks.label=<kernel label>      exported to suites as KS_KERNEL
//	ks.arch=<x86_64|arm64>       exported to suites as KS_ARCH
//	ks.results=<device>          results channel, e.g. /dev/ttyS1
//	ks.suite_timeout=<seconds>   per-suite limit (default 300)
package guest
