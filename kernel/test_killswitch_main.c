// SPDX-License-Identifier: GPL-2.0
/*
 * test_killswitch: targets with behaviour a test can see from user space.
 *
 * /sys/kernel/debug/test_killswitch/
 *   call	read: calls ks_test_vuln(42), prints its return value
 *   trigger	write N: calls ks_test_vuln(N); the value lands in result
 *   result	read: what the last trigger returned
 *   body_runs	read: how many times ks_test_vuln()'s body ran
 *   bench, bench_kprobe	the benchmark loop (test_killswitch_bench.c)
 *
 * ks_test_vuln() returns its argument; engaged, it returns the retval and
 * body_runs stays put.  The other functions give the CLI's pre-flight
 * something of each return type, and ks_test_dup() exists twice (here and
 * in test_killswitch_dup.c) as an ambiguous name.
 */
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/moduleparam.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include "test_killswitch.h"

static atomic_long_t ks_test_body_runs;
static atomic_long_t ks_test_other_runs;
static atomic_long_t ks_test_result;
static struct dentry *ks_test_dir;

noinline long ks_test_vuln(long arg)
{
	atomic_long_inc(&ks_test_body_runs);
	return arg;
}
EXPORT_SYMBOL_GPL(ks_test_vuln);

noinline void ks_test_void(void)
{
	atomic_long_inc(&ks_test_other_runs);
}
EXPORT_SYMBOL_GPL(ks_test_void);

noinline void *ks_test_ptr(void)
{
	atomic_long_inc(&ks_test_other_runs);
	return &ks_test_result;
}
EXPORT_SYMBOL_GPL(ks_test_ptr);

noinline bool ks_test_bool(void)
{
	atomic_long_inc(&ks_test_other_runs);
	return true;
}
EXPORT_SYMBOL_GPL(ks_test_bool);

static noinline long ks_test_dup(void)
{
	atomic_long_inc(&ks_test_other_runs);
	return 1;
}

static int ks_test_call_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%ld\n", ks_test_vuln(42));
	/* Keep every target referenced so none is dropped. */
	if (!ks_test_bool() || !ks_test_ptr())
		ks_test_void();
	/* Use both results, or GCC turns them into .isra clones. */
	atomic_long_add(ks_test_dup() + ks_test_dup_other(), &ks_test_other_runs);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ks_test_call);

static ssize_t ks_test_trigger_write(struct file *file, const char __user *ubuf,
				     size_t count, loff_t *ppos)
{
	long arg;
	int err;

	err = kstrtol_from_user(ubuf, count, 0, &arg);
	if (err)
		return err;
	atomic_long_set(&ks_test_result, ks_test_vuln(arg));
	return count;
}

static const struct file_operations ks_test_trigger_fops = {
	.owner = THIS_MODULE,
	.write = ks_test_trigger_write,
	.llseek = noop_llseek,
};

static int ks_test_get(void *data, u64 *val)
{
	*val = atomic_long_read(data);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(ks_test_long_fops, ks_test_get, NULL, "%lld\n");

/*
 * init_wait_ms=N: the init sleeps N ms and then calls
 * ks_test_init_probe(), which lives in init text the kernel frees once
 * the module is live.  The adversary suite engages it in that window.
 */
static unsigned int init_wait_ms;
module_param(init_wait_ms, uint, 0400);
MODULE_PARM_DESC(init_wait_ms, "sleep this long in init, before calling ks_test_init_probe()");

static noinline long __init ks_test_init_probe(void)
{
	return atomic_long_inc_return(&ks_test_other_runs);
}

static int __init ks_test_init(void)
{
	if (init_wait_ms) {
		msleep(init_wait_ms);
		ks_test_init_probe();
	}
	ks_test_dir = debugfs_create_dir("test_killswitch", NULL);
	debugfs_create_file("call", 0444, ks_test_dir, NULL,
			    &ks_test_call_fops);
	debugfs_create_file("trigger", 0200, ks_test_dir, NULL,
			    &ks_test_trigger_fops);
	debugfs_create_file_unsafe("result", 0444, ks_test_dir,
				   &ks_test_result, &ks_test_long_fops);
	debugfs_create_file_unsafe("body_runs", 0444, ks_test_dir,
				   &ks_test_body_runs, &ks_test_long_fops);
	ks_test_bench_init(ks_test_dir);
	return 0;
}

static void __exit ks_test_exit(void)
{
	debugfs_remove(ks_test_dir);
	ks_test_bench_exit();
}

module_init(ks_test_init);
module_exit(ks_test_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Targets for the killswitch selftests");
