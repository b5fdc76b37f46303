// Package catalog holds killswitch's reviewed CVE mitigations and decides
// whether one applies to a host.
//
// The entries live in mitigations.yaml next to this file, embedded at build
// time: one per CVE, with the functions to engage and the values they
// return, the verb (engage, tryengage, engagebpf, or none when no function
// can be switched off safely), the caller filter, the probe window, the
// modules that hold the targets, the fix commit, the affected kernel
// versions as ranges, what stops and what keeps working once it is engaged,
// and, per reviewed kernel, whether each symbol exists and why not.
//
// Assess combines an entry with facts about a host (its upstream kernel
// version, kernel config, kallsyms, loaded modules, BPF override support)
// into an Assessment: whether the kernel is affected, whether every target
// can be engaged, and the control lines that would do it. Nothing here
// writes to the module; the CLI applies a plan through ksfs after
// pre-flight.
package catalog
