// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: x86_64 override.  The kernel's override_function_with_return()
 * is not exported (and absent without FUNCTION_ERROR_INJECTION), so this
 * is our own copy: point the saved instruction pointer at a bare return,
 * which pops the probed function's return address as if its body had run.
 */
#include <linux/kprobes.h>
#include <linux/linkage.h>
#include <linux/ptrace.h>

#include "../../ks.h"

asmlinkage void ks_just_return(void);

void ks_override_function_with_return(struct pt_regs *regs)
{
	regs->ip = (unsigned long)&ks_just_return;
}

NOKPROBE_SYMBOL(ks_override_function_with_return);
NOKPROBE_SYMBOL(ks_just_return);

/*
 * A function entry is where ftrace put its call: the first instruction,
 * or the one after ENDBR.  ks_target_prepare() registers only names
 * whose function ftrace manages; the probe layer marks the probe
 * KPROBE_FLAG_FTRACE only if it landed exactly on that site.
 */
bool ks_arch_function_entry(const struct kprobe *kp)
{
	return kp->flags & KPROBE_FLAG_FTRACE;
}
