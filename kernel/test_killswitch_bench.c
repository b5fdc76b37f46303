// SPDX-License-Identifier: GPL-2.0
/*
 * test_killswitch: the benchmark target and its timing loop (make bench).
 *
 * /sys/kernel/debug/test_killswitch/
 *   bench		write "<calls> <rounds> <arg>": calls ks_test_bench(arg)
 *			<calls> times per round, <rounds> rounds, each round
 *			timed with interrupts off; read: the last run as
 *			"calls=<n> rounds=<r> median_ps=<p> min_ps=<p>
 *			max_ps=<p> body=<b> overridden=<o> ret=<v>", times
 *			in picoseconds per call, body the calls whose body
 *			ran, overridden the calls that did not return arg
 *   bench_kprobe	write 1: put a kprobe with an empty pre-handler on
 *			ks_test_bench (the bare kprobe the others are
 *			compared with); write 2: the same with an empty
 *			post-handler as well (the shape of fail_function's
 *			and killswitch's probes: an IPMODIFY ftrace ops);
 *			write 0: remove it; read: 0, 1 or 2
 *
 * ks_test_bench() is on the error-injection list, so fail_function and a
 * BPF program calling bpf_override_return() can reach it as well: the
 * same target, measured the same way, under each mechanism.
 */
#include <linux/compiler.h>
#include <linux/debugfs.h>
#include <linux/error-injection.h>
#include <linux/fs.h>
#include <linux/irqflags.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/math64.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sort.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "test_killswitch.h"

#define KS_BENCH_MAX_CALLS	1000000
#define KS_BENCH_MAX_ROUNDS	101

/* Serialises runs, the results and the bare kprobe. */
static DEFINE_MUTEX(ks_bench_lock);
static unsigned long ks_bench_body_runs;
static u64 ks_bench_ps[KS_BENCH_MAX_ROUNDS];
static char ks_bench_result[192] = "no run yet\n";
static unsigned int ks_bench_kprobe_on;

noinline int ks_test_bench(int arg)
{
	ks_bench_body_runs++;
	return arg;
}

ALLOW_ERROR_INJECTION(ks_test_bench, ERRNO);

static int ks_bench_pre(struct kprobe *kp, struct pt_regs *regs)
{
	return 0;
}

static void ks_bench_post(struct kprobe *kp, struct pt_regs *regs,
			  unsigned long flags)
{
}

static struct kprobe ks_bench_kprobe;

static int ks_bench_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * One round: interrupts off so a tick or an interrupt does not land in
 * the figure; the rounds are short enough (KS_BENCH_MAX_CALLS) for that,
 * and the median over rounds drops the outliers.
 */
static void ks_bench_run(unsigned int calls, unsigned int rounds, int arg)
{
	unsigned long body0 = ks_bench_body_runs, overridden = 0;
	unsigned long flags;
	unsigned int r, i;
	u64 t0, t1;
	int ret = arg;

	for (r = 0; r < rounds; r++) {
		local_irq_save(flags);
		t0 = ktime_get_ns();
		for (i = 0; i < calls; i++) {
			ret = ks_test_bench(arg);
			if (ret != arg)
				overridden++;
		}
		t1 = ktime_get_ns();
		local_irq_restore(flags);
		ks_bench_ps[r] = div_u64((t1 - t0) * 1000, calls);
		cond_resched();
	}
	sort(ks_bench_ps, rounds, sizeof(ks_bench_ps[0]), ks_bench_cmp, NULL);
	scnprintf(ks_bench_result, sizeof(ks_bench_result),
		  "calls=%u rounds=%u median_ps=%llu min_ps=%llu max_ps=%llu body=%lu overridden=%lu ret=%d\n",
		  calls, rounds, ks_bench_ps[rounds / 2], ks_bench_ps[0],
		  ks_bench_ps[rounds - 1], ks_bench_body_runs - body0,
		  overridden, ret);
}

static ssize_t ks_bench_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	unsigned int calls, rounds;
	char buf[64];
	int arg;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	if (sscanf(buf, "%u %u %d", &calls, &rounds, &arg) != 3 ||
	    !calls || calls > KS_BENCH_MAX_CALLS ||
	    !rounds || rounds > KS_BENCH_MAX_ROUNDS)
		return -EINVAL;
	mutex_lock(&ks_bench_lock);
	ks_bench_run(calls, rounds, arg);
	mutex_unlock(&ks_bench_lock);
	return count;
}

static ssize_t ks_bench_read(struct file *file, char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	char buf[sizeof(ks_bench_result)];

	mutex_lock(&ks_bench_lock);
	strscpy(buf, ks_bench_result, sizeof(buf));
	mutex_unlock(&ks_bench_lock);
	return simple_read_from_buffer(ubuf, count, ppos, buf, strlen(buf));
}

static const struct file_operations ks_bench_fops = {
	.owner = THIS_MODULE,
	.read = ks_bench_read,
	.write = ks_bench_write,
	.llseek = default_llseek,
};

static ssize_t ks_bench_kprobe_write(struct file *file,
				     const char __user *ubuf, size_t count,
				     loff_t *ppos)
{
	unsigned int mode;
	int err;

	err = kstrtouint_from_user(ubuf, count, 0, &mode);
	if (err)
		return err;
	if (mode > 2)
		return -EINVAL;
	mutex_lock(&ks_bench_lock);
	if (ks_bench_kprobe_on && mode != ks_bench_kprobe_on) {
		unregister_kprobe(&ks_bench_kprobe);
		ks_bench_kprobe_on = 0;
	}
	if (mode && !ks_bench_kprobe_on) {
		memset(&ks_bench_kprobe, 0, sizeof(ks_bench_kprobe));
		ks_bench_kprobe.symbol_name = "ks_test_bench";
		ks_bench_kprobe.pre_handler = ks_bench_pre;
		if (mode == 2)
			ks_bench_kprobe.post_handler = ks_bench_post;
		err = register_kprobe(&ks_bench_kprobe);
		if (!err)
			ks_bench_kprobe_on = mode;
	}
	mutex_unlock(&ks_bench_lock);
	return err ? err : count;
}

static ssize_t ks_bench_kprobe_read(struct file *file, char __user *ubuf,
				    size_t count, loff_t *ppos)
{
	char buf[4];

	mutex_lock(&ks_bench_lock);
	scnprintf(buf, sizeof(buf), "%u\n", ks_bench_kprobe_on);
	mutex_unlock(&ks_bench_lock);
	return simple_read_from_buffer(ubuf, count, ppos, buf, strlen(buf));
}

static const struct file_operations ks_bench_kprobe_fops = {
	.owner = THIS_MODULE,
	.read = ks_bench_kprobe_read,
	.write = ks_bench_kprobe_write,
	.llseek = default_llseek,
};

void ks_test_bench_init(struct dentry *dir)
{
	debugfs_create_file("bench", 0600, dir, NULL, &ks_bench_fops);
	debugfs_create_file("bench_kprobe", 0600, dir, NULL,
			    &ks_bench_kprobe_fops);
}

/* After debugfs_remove(): no writer can run any more. */
void ks_test_bench_exit(void)
{
	if (ks_bench_kprobe_on)
		unregister_kprobe(&ks_bench_kprobe);
}
