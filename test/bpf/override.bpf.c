// SPDX-License-Identifier: GPL-2.0
/*
 * override.bpf.c - test program: makes the probed function return
 * ks_retval (a .data global, so a map) without running its body, and
 * counts the calls it saw in the "hits" map. Build with -DKS_RETVAL=<n>
 * to pick another value; 40 suits __x64_sys_getpriority, whose raw result
 * is 20 - nice (20 for an ordinary process).
 */
#include "ks_bpf.h"

#ifndef KS_RETVAL
#define KS_RETVAL 40
#endif

volatile __s64 ks_retval = KS_RETVAL;

KS_HITS_MAP;

SEC("kprobe")
int ks_override(struct pt_regs *ctx)
{
	ks_count_hit(&hits);
	bpf_override_return(ctx, (__u64)ks_retval);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
