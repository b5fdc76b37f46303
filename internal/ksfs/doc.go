// Package ksfs is the killswitch securityfs protocol: the only Go code that
// opens the files under /sys/kernel/security/killswitch.
//
// It builds and validates control lines (engage, tryengage, observe,
// engagebpf, disengage, disengage_all, caller filters) with the rules the
// module applies, writes them, turns the kernel's errno into an error an
// operator can act on, and reads engagements back from the engaged file and
// the per-function fn/<sym>/ files.
//
// BPF engagements made with engagebpf live in pins under
// /sys/fs/bpf/killswitch, outside the module's list; the Client lists them
// with the module's own engagements and removes the pin when such a symbol
// is disengaged.
//
// The host filesystem is a hostfs.FS, so the same code runs against the real
// tree and against the fake module in ksfs/ksfstest.
package ksfs
