/* SPDX-License-Identifier: GPL-2.0 */
/*
 * killswitch: the instruction a redirected probe resumes at.  The probe
 * layer returns to it with a ret or iret, not an indirect branch, so the
 * ENDBR that SYM_FUNC_START adds on IBT kernels is harmless; RET is the
 * return thunk on RETHUNK kernels.
 */
#include <linux/linkage.h>
#include <linux/objtool.h>
#include <asm/nospec-branch.h>

	.text
SYM_FUNC_START(ks_just_return)
	RET
SYM_FUNC_END(ks_just_return)
