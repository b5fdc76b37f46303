/* SPDX-License-Identifier: GPL-2.0 */
/*
 * killswitch: the instruction a redirected probe resumes at.  The probe
 * layer returns to it with a ret or iret, never an indirect branch, so it
 * carries no ENDBR (ANNOTATE_NOENDBR tells objtool its address is taken
 * on purpose, as upstream's just_return_func does); RET is the return
 * thunk on RETHUNK kernels.
 */
#include <linux/linkage.h>
#include <linux/objtool.h>
#include <asm/nospec-branch.h>

#ifndef ANNOTATE_NOENDBR
#define ANNOTATE_NOENDBR	/* before IBT (5.18) there is nothing to say */
#endif

	.text
	.globl ks_just_return
	.type ks_just_return, @function
ks_just_return:
	ANNOTATE_NOENDBR
	RET
	.size ks_just_return, .-ks_just_return
