// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: x86_64 override.  The kernel's override_function_with_return()
 * is not exported (and absent without FUNCTION_ERROR_INJECTION), so this
 * is our own copy: point the saved instruction pointer at a bare return,
 * which pops the probed function's return address as if its body had run.
 */
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/linkage.h>
#include <linux/ptrace.h>
#include <linux/slab.h>

#include "../../ks.h"

asmlinkage void ks_just_return(void);

void ks_override_function_with_return(struct pt_regs *regs)
{
	regs->ip = (unsigned long)&ks_just_return;
}

NOKPROBE_SYMBOL(ks_override_function_with_return);
NOKPROBE_SYMBOL(ks_just_return);

/*
 * Registered with KPROBE_FLAG_FTRACE (and disarmed), the probe layer
 * neither copies the instruction nor prepares a jump optimisation:
 * preparing one decodes the whole function, and on 6.12 that read past a
 * module's last function into an unmapped page (an oops on "engage
 * ks_exit").  ks_arch_function_entry() then proves the flag true before
 * the probe is ever armed.
 */
unsigned long ks_arch_probe_flags(void)
{
	return IS_ENABLED(CONFIG_KPROBES_ON_FTRACE) ? KPROBE_FLAG_FTRACE : 0;
}

/*
 * A function entry is where ftrace put its call: the first instruction,
 * or the one after ENDBR.  A .cold fragment, an assembly routine and a
 * notrace function have none: ftrace refuses them as a filter.
 */
bool ks_arch_function_entry(const struct kprobe *kp)
{
	struct ftrace_ops *ops;
	int err;

	if (!IS_ENABLED(CONFIG_KPROBES_ON_FTRACE))
		return false;
	/*
	 * A fresh ops each time, never registered: ftrace_free_filter()
	 * frees the filter without forgetting it, so an ops is good for one
	 * filter only.
	 */
	ops = kzalloc(sizeof(*ops), GFP_KERNEL);
	if (!ops)
		return false;
	err = ftrace_set_filter_ip(ops, (unsigned long)kp->addr, 0, 1);
	ftrace_free_filter(ops);
	kfree(ops);
	return !err;
}
