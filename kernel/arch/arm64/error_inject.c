// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: arm64 override.  Resuming at the link register returns to
 * the probed function's caller before its body (and its prologue) ran.
 */
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/string.h>

#include "../../ks.h"

void ks_override_function_with_return(struct pt_regs *regs)
{
	instruction_pointer_set(regs, procedure_link_pointer(regs));
	/*
	 * A target reached by an indirect call left BTYPE set in the saved
	 * PSTATE; returning with it to an instruction that is no landing pad
	 * is a BTI fault.  Clear it, as the kernel does when it skips an
	 * instruction (arm64_skip_faulting_instruction).
	 */
	regs->pstate &= ~PSR_BTYPE_MASK;
}

NOKPROBE_SYMBOL(ks_override_function_with_return);

/*
 * arm64 kprobes do not sit on ftrace sites (no KPROBES_ON_FTRACE): the
 * probe is a BRK at the first instruction.  A function entry is then a
 * symbol's offset 0; .cold fragments are refused by name before this.
 */
bool ks_arch_function_entry(const struct kprobe *kp)
{
	char buf[KSYM_SYMBOL_LEN];

	sprint_symbol(buf, (unsigned long)kp->addr);
	return strstr(buf, "+0x0/");
}
