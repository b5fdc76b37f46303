// Package testkernel builds the project's test kernels from Debian's
// linux-source-6.1 package and caches them outside the checkout.
//
// A test kernel is `make tinyconfig` + kernel/configs/kvm_guest.config +
// test/kernels/base.config (+ test/kernels/<variant>.config), built out of
// tree. It has what engagebpf, the benchmarks and the Secure Boot cells need
// and nothing more, so a cold build fits in a CI run on two cores:
// FUNCTION_ERROR_INJECTION and BPF_KPROBE_OVERRIDE, FAIL_FUNCTION, kprobes on
// ftrace, BTF, securityfs with the lockdown LSM, module signing with a test
// certificate in the trusted keyring (enforced only when booted with
// module.sig_enforce=1), and the networking and crypto the demonstrators use.
//
// tinyconfig drops any option whose dependencies are missing without a
// word, so after olddefconfig every option the project fragments set is
// checked against the final .config and the build fails naming those that
// did not stick.
//
// Results live in $KS_CACHE/kernels/<key>/ (KS_CACHE defaults to
// /var/cache/killswitch). The key hashes everything that changes the
// result: the source package version, the fragments, the compiler and
// pahole versions, and the variant. kernel.json is written last and marks
// a complete build; a directory without it is resumed by make, which only
// redoes what is missing.
package testkernel
