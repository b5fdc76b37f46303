// SPDX-License-Identifier: GPL-2.0
/*
 * noop.bpf.c - test program that does nothing: attaching it must not
 * change the probed function, and it needs no error-injection gate.
 */
#include "ks_bpf.h"

SEC("kprobe")
int ks_noop(struct pt_regs *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
