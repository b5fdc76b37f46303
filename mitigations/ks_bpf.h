/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ks_bpf.h - what killswitch's BPF programs need, without libbpf or
 * vmlinux.h: section and map macros, the three helpers we call, and the
 * mitigation program shape shared by every mitigations/cve-*.bpf.c.
 *
 * Build: clang -target bpf -O2 -g -I/usr/include/$(gcc -print-multiarch)
 * (the multiarch directory holds <asm/types.h> for <linux/bpf.h>).
 * ks-bpf-load loads the object's single SEC("kprobe/...") program and pins
 * its link at /sys/fs/bpf/killswitch/<function>.
 *
 * Contract with the user-space tools: a program may carry an array map
 * named "hits" with one __u64 at key 0 counting the calls it saw; the CLI
 * reads it through the pinned link to show hits for BPF engagements.
 */
#ifndef KS_BPF_H
#define KS_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/errno.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

struct pt_regs;

static void *(*bpf_map_lookup_elem)(void *map, const void *key) =
	(void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_get_current_uid_gid)(void) =
	(void *)BPF_FUNC_get_current_uid_gid;
/* GPL-only helper: objects using it must carry a GPL license section. */
static long (*bpf_override_return)(struct pt_regs *regs, __u64 rc) =
	(void *)BPF_FUNC_override_return;

/* KS_HITS_MAP defines the "hits" counter described above. */
#define KS_HITS_MAP							\
	struct {							\
		__uint(type, BPF_MAP_TYPE_ARRAY);			\
		__uint(max_entries, 1);					\
		__type(key, __u32);					\
		__type(value, __u64);					\
	} hits SEC(".maps")

static __always_inline void ks_count_hit(void *map)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(map, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The uid as seen in the initial user namespace, like killswitch's uid= filter. */
static __always_inline __u32 ks_caller_uid(void)
{
	return (__u32)bpf_get_current_uid_gid();
}

/*
 * KS_MITIGATE_UNLESS_ROOT(fn, rc) is a whole mitigation object: a kprobe
 * on fn that makes it return rc without running its body when the
 * caller's uid is not 0, and lets root's calls through. Every catalog
 * entry with verb engagebpf and filter uid!=0 is one line of this.
 */
#define KS_MITIGATE_UNLESS_ROOT(fn, rc)					\
	KS_HITS_MAP;							\
	SEC("kprobe/" #fn)						\
	int ks_##fn(struct pt_regs *ctx)				\
	{								\
		ks_count_hit(&hits);					\
		if (ks_caller_uid() != 0)				\
			bpf_override_return(ctx, (__u64)(long)(rc));	\
		return 0;						\
	}								\
	char LICENSE[] SEC("license") = "GPL"

#endif /* KS_BPF_H */
