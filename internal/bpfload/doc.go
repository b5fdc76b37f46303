// Package bpfload is the logic of ks-bpf-load, the user-mode helper that
// killswitch.ko runs for `engagebpf <sym> <path-to.bpf.o>`.
//
// The helper loads the one kprobe program of a BPF ELF object, attaches it
// at offset 0 of the named kernel function and pins the resulting link at
// /sys/fs/bpf/killswitch/<sym>. The pin is the engagement: it outlives the
// helper, and removing it detaches the program. The module opens the
// error-injection gate (within_error_injection_list) for the helper's
// process only while the helper runs, which is what lets a program calling
// bpf_override_return attach to a function outside the allow-list.
//
// The helper runs with no terminal (call_usermodehelper), so its result is
// written as one line to the kernel log: "ks-bpf-load: loaded <prog>
// program on <sym>" or "ks-bpf-load: <sym>: <reason>".
package bpfload
