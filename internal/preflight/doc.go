// Package preflight decides whether it is safe to engage a kernel function
// before anything is written to the module, and whether a host can run
// killswitch at all (Doctor).
//
// Check reads the facts the kernel exposes about a symbol: its prototype
// from BTF (/sys/kernel/btf/vmlinux and, for module symbols,
// /sys/kernel/btf/<module> on top of it), its kallsyms entries (which
// module, how many functions share the name, compiler clones), whether
// ftrace can trace it, the kprobe blacklist, the module's guard rails, the
// lockdown level and the kernel config. Every finding names the thing, the
// reason and the way out, and carries a verdict: ok, warn or refuse.
//
// All host paths go through a hostfs.FS, so tests run on fixtures.
package preflight
