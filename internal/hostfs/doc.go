// Package hostfs is the narrow view of the host's filesystem that killswitch
// reads kernel state through: securityfs, sysfs, procfs, tracefs, debugfs,
// bpffs and /dev/kmsg.
//
// Every path is absolute as seen on the host ("/proc/kallsyms"). An FS
// resolves it under a root directory, so tests point the same code at a fake
// tree in a temporary directory, and the in-test module fake in
// internal/ksfs/ksfstest can intercept writes the way the kernel would.
package hostfs
