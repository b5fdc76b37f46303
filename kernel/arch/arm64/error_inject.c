// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: arm64 override.  Resuming at the link register returns to
 * the probed function's caller before its body (and its prologue) ran.
 */
#include <linux/kprobes.h>
#include <linux/ptrace.h>

#include "../../ks.h"

void ks_override_function_with_return(struct pt_regs *regs)
{
	instruction_pointer_set(regs, procedure_link_pointer(regs));
}

NOKPROBE_SYMBOL(ks_override_function_with_return);
