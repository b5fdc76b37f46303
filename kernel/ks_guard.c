// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: guard rails.
 *
 * The main objection to a killswitch is that it can switch off a
 * security check.  For functions that decide "may this happen?" only a
 * negative errno (fail closed) is accepted; 0 or a positive value, which
 * would say "yes" without asking, is refused with -EACCES.  Functions the
 * kernel (or this module) cannot live without are refused outright.
 * guard=0 at load turns both off.  internal/preflight in the Go tree
 * mirrors these lists: keep them in step.
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/moduleparam.h>
#include <linux/string.h>

#include "ks.h"

bool ks_guard = true;
module_param_named(guard, ks_guard, bool, 0444);
MODULE_PARM_DESC(guard, "refuse fail-open overrides of security checks and hazardous targets (default 1)");

/*
 * A trailing '*' matches any suffix; otherwise the name must be equal.
 *
 * Checks that return 0 or a negative errno: fail closed is a negative
 * errno.
 */
static const char * const ks_security_checks[] = {
	"security_*", "apparmor_*", "selinux_*", "smack_*", "tomoyo_*",
	"landlock_*", "bpf_lsm_*", "yama_*", "lockdown_*", "cap_*",
	"__ptrace_may_access", "inode_permission", "generic_permission",
	"may_open",
};

/* Checks that return bool, true meaning "allowed": fail closed is 0. */
static const char * const ks_security_bools[] = {
	"capable", "ns_capable*", "has_capability*", "has_ns_capability*",
	"file_ns_capable", "capable_wrt_inode_uidgid",
	"privileged_wrt_inode_uidgid", "ptrace_may_access", "ptracer_capable",
};

static const char * const ks_hazards[] = {
	/* allocators */
	"kmalloc*", "__kmalloc*", "kmem_cache_*", "kfree*", "kvfree*",
	"kvmalloc*", "__kvmalloc*", "vmalloc*", "__vmalloc*", "vfree*",
	"krealloc*", "alloc_pages*", "__alloc_pages*", "free_pages*",
	"__free_pages*", "pcpu_*", "__alloc_percpu*", "free_percpu",
	/* scheduler */
	"schedule*", "__schedule", "try_to_wake_up", "wake_up_*",
	"__wake_up*", "finish_task_switch*", "scheduler_tick",
	/* RCU */
	"rcu_*", "call_rcu*", "synchronize_rcu*", "__rcu_*",
	/* locking */
	"mutex_*", "__mutex_*", "_raw_spin_*", "_raw_read_*",
	"_raw_write_*", "queued_spin_*", "queued_read_*", "queued_write_*",
	"down*", "up", "up_*", "__down*", "__up*", "rwsem_*",
	/* printk */
	"printk*", "_printk*", "vprintk*",
	/* what this module itself runs on */
	"register_kprobe*", "unregister_kprobe*", "kprobe_*", "kprobes_*",
	"arch_prepare_kprobe*", "arch_arm_kprobe", "arch_disarm_kprobe",
	"ftrace_*", "securityfs_*", "simple_*", "seq_read*", "seq_lseek",
	"seq_open*", "seq_release*", "seq_printf", "seq_putc", "seq_list_*",
	"single_open*", "single_release", "call_usermodehelper*",
	"queue_delayed_work*", "__queue_delayed_work", "cancel_delayed_work*",
	"kallsyms_*", "copy_from_user*", "_copy_from_user", "memdup_user*",
};

static bool ks_match(const char *name, const char * const *pats, size_t n)
{
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = strlen(pats[i]);
		if (pats[i][len - 1] == '*') {
			if (!strncmp(name, pats[i], len - 1))
				return true;
		} else if (!strcmp(name, pats[i])) {
			return true;
		}
	}
	return false;
}

/* "mod:name.constprop.0" -> "name" */
static void ks_base_name(const char *sym, char *buf, size_t len)
{
	const char *colon = strchr(sym, ':');

	strscpy(buf, colon ? colon + 1 : sym, len);
	buf[strcspn(buf, ".")] = '\0';
}

int ks_guard_check(const char *sym, long retval, const struct ks_actor *who)
{
	char name[KSYM_NAME_LEN];

	if (!ks_guard)
		return 0;
	ks_base_name(sym, name, sizeof(name));
	if (ks_match(name, ks_hazards, ARRAY_SIZE(ks_hazards))) {
		ks_audit(who,
			 "engage %s refused: the kernel or killswitch itself depends on it (allocator, scheduler, RCU, locking, printk or the probe machinery); load with guard=0 to override",
			 sym);
		return -EACCES;
	}
	if (retval >= 0 &&
	    ks_match(name, ks_security_checks, ARRAY_SIZE(ks_security_checks))) {
		ks_audit(who,
			 "engage %s refused: retval=%ld would make a security check pass without running; only a negative errno (fail closed) is allowed; load with guard=0 to override",
			 sym, retval);
		return -EACCES;
	}
	if (retval != 0 &&
	    ks_match(name, ks_security_bools, ARRAY_SIZE(ks_security_bools))) {
		ks_audit(who,
			 "engage %s refused: retval=%ld is \"true\" for this yes/no security check and would grant without checking; only 0 (deny, fail closed) is allowed; load with guard=0 to override",
			 sym, retval);
		return -EACCES;
	}
	return 0;
}
