package preflight

import "strings"

// The module's guard rails, mirrored from kernel/ks_guard.c
// (ks_security_checks, ks_security_bools and ks_hazards). Keep them in
// step: TestGuardMatchesModule compares them. A trailing '*' matches any
// suffix; otherwise the name must be equal. Names are compared after
// baseName, like ks_base_name does.

// securityChecks return 0 or a negative errno: only a negative errno
// (fail closed) is accepted for them.
var securityChecks = []string{
	"security_*", "apparmor_*", "selinux_*", "smack_*", "tomoyo_*",
	"landlock_*", "bpf_lsm_*", "yama_*", "lockdown_*", "cap_*",
	"__ptrace_may_access", "inode_permission", "generic_permission",
	"may_open",
}

// securityBools return bool, true meaning "allowed": only 0 (deny, fail
// closed) is accepted for them.
var securityBools = []string{
	"capable", "ns_capable*", "has_capability*", "has_ns_capability*",
	"file_ns_capable", "capable_wrt_inode_uidgid",
	"privileged_wrt_inode_uidgid", "ptrace_may_access", "ptracer_capable",
}

// hazards are functions the kernel or the module cannot live without:
// refused whatever the value.
var hazards = []string{
	// allocators
	"kmalloc*", "__kmalloc*", "kmem_cache_*", "kfree*", "kvfree*",
	"kvmalloc*", "__kvmalloc*", "vmalloc*", "__vmalloc*", "vfree*",
	"krealloc*", "alloc_pages*", "__alloc_pages*", "free_pages*",
	"__free_pages*", "pcpu_*", "__alloc_percpu*", "free_percpu",
	// scheduler
	"schedule*", "__schedule", "try_to_wake_up", "wake_up_*",
	"__wake_up*", "finish_task_switch*", "scheduler_tick",
	// RCU
	"rcu_*", "call_rcu*", "synchronize_rcu*", "__rcu_*",
	// locking
	"mutex_*", "__mutex_*", "_raw_spin_*", "_raw_read_*",
	"_raw_write_*", "queued_spin_*", "queued_read_*", "queued_write_*",
	"down*", "up", "up_*", "__down*", "__up*", "rwsem_*",
	// printk
	"printk*", "_printk*", "vprintk*",
	// what the module itself runs on
	"register_kprobe*", "unregister_kprobe*", "kprobe_*", "kprobes_*",
	"arch_prepare_kprobe*", "arch_arm_kprobe", "arch_disarm_kprobe",
	"ftrace_*", "securityfs_*", "simple_*", "seq_read*", "seq_lseek",
	"seq_open*", "seq_release*", "seq_printf", "seq_putc", "seq_list_*",
	"single_open*", "single_release", "call_usermodehelper*",
	"queue_delayed_work*", "__queue_delayed_work", "cancel_delayed_work*",
	"kallsyms_*", "copy_from_user*", "_copy_from_user", "memdup_user*",
}

func matchAny(name string, patterns []string) string {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return p
			}
		} else if name == p {
			return p
		}
	}
	return ""
}

// IsSecurityCheck reports whether the module treats sym as a security
// check, and the pattern that matched.
func IsSecurityCheck(sym string) (string, bool) {
	p := matchAny(baseName(sym), securityChecks)
	return p, p != ""
}

// IsSecurityBool reports whether the module treats sym as a yes/no
// security check, and the pattern that matched.
func IsSecurityBool(sym string) (string, bool) {
	p := matchAny(baseName(sym), securityBools)
	return p, p != ""
}

// IsHazard reports whether the module refuses sym outright, and the
// pattern that matched.
func IsHazard(sym string) (string, bool) {
	p := matchAny(baseName(sym), hazards)
	return p, p != ""
}
