// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: the securityfs tree, /sys/kernel/security/killswitch/.
 *
 *   control		0200	one command per write (ks_control.c)
 *   engaged		0444	one line per engagement
 *   taint		0444	1 while the module is loaded
 *   fn/<sym>/retval	0600	live return value
 *   fn/<sym>/{hits,passed,missed,state,timeout_left,filter,since,contexts} 0444
 *   fn/<sym>/callers	0400	recent distinct callers: other users' activity
 *
 * An observed function's directory is 0700 and `engaged` lists it only to
 * CAP_SYS_ADMIN: counting another user's calls of any kernel function is
 * root's business.  It becomes 0755 when the function is engaged.
 *
 * Per-function files find their entry by their directory's name under
 * ks_lock, so a file held open across a disengage reads -ENOENT instead
 * of freed memory.  A removed file's inode becomes a bad inode, so an
 * O_PATH descriptor kept across a disengage or an unload reopens (through
 * /proc/self/fd) to -EIO instead of into this module's text.
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/panic.h>
#include <linux/security.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ks.h"

enum ks_field {
	KS_F_RETVAL,
	KS_F_HITS,
	KS_F_PASSED,
	KS_F_MISSED,
	KS_F_STATE,
	KS_F_TIMEOUT_LEFT,
	KS_F_FILTER,
	KS_F_SINCE,
	KS_F_CALLERS,
	KS_F_CONTEXTS,
};

static const struct {
	const char *name;
	umode_t mode;
} ks_fields[KS_NFILES] = {
	[KS_F_RETVAL] = { "retval", 0600 },
	[KS_F_HITS] = { "hits", 0444 },
	[KS_F_PASSED] = { "passed", 0444 },
	[KS_F_MISSED] = { "missed", 0444 },
	[KS_F_STATE] = { "state", 0444 },
	[KS_F_TIMEOUT_LEFT] = { "timeout_left", 0444 },
	[KS_F_FILTER] = { "filter", 0444 },
	[KS_F_SINCE] = { "since", 0444 },
	[KS_F_CALLERS] = { "callers", 0400 },
	[KS_F_CONTEXTS] = { "contexts", 0444 },
};

static struct dentry *ks_root, *ks_fn_dir, *ks_control, *ks_engaged,
		     *ks_taint;

/* The opener and the writer must both hold CAP_SYS_ADMIN. */
static bool ks_capable(struct file *file)
{
	return file_ns_capable(file, &init_user_ns, CAP_SYS_ADMIN) &&
	       capable(CAP_SYS_ADMIN);
}

/* Copy a whole write into a NUL-terminated buffer; no embedded NULs. */
static char *ks_copy_write(const char __user *ubuf, size_t count, size_t max)
{
	char *buf;

	if (!count || count > max)
		return ERR_PTR(-EINVAL);
	buf = memdup_user_nul(ubuf, count);
	if (!IS_ERR(buf) && strlen(buf) != count) {
		kfree(buf);
		return ERR_PTR(-EINVAL);
	}
	return buf;
}

static ssize_t ks_control_write(struct file *file, const char __user *ubuf,
				size_t count, loff_t *ppos)
{
	struct ks_request req;
	struct ks_actor who;
	char *buf;
	int err;

	if (!ks_capable(file))
		return -EPERM;
	buf = ks_copy_write(ubuf, count, KS_CMD_MAX);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	err = ks_parse_request(buf, &req);
	if (!err) {
		ks_actor_current(&who);
		err = ks_execute(&req, &who);
	}
	kfree(buf);
	return err ? err : count;
}

static const struct file_operations ks_control_fops = {
	.owner = THIS_MODULE,
	.write = ks_control_write,
	.llseek = noop_llseek,
};

static void *ks_engaged_start(struct seq_file *m, loff_t *pos)
{
	mutex_lock(&ks_lock);
	return seq_list_start(&ks_entries, *pos);
}

static void *ks_engaged_next(struct seq_file *m, void *v, loff_t *pos)
{
	return seq_list_next(v, &ks_entries, pos);
}

static void ks_engaged_stop(struct seq_file *m, void *v)
{
	mutex_unlock(&ks_lock);
}

static int ks_engaged_show(struct seq_file *m, void *v)
{
	struct ks_entry *e = list_entry(v, struct ks_entry, list);
	int mode = atomic_read(&e->mode);
	char filters[KS_FILTER_TEXT];

	if (mode == KS_OBSERVING &&
	    !file_ns_capable(m->file, &init_user_ns, CAP_SYS_ADMIN))
		return 0;

	seq_printf(m, "%s retval=%ld hits=%lu", e->sym,
		   atomic_long_read(&e->retval), ks_hits(e));
	ks_format_filters(e, filters, sizeof(filters));
	if (*filters)
		seq_printf(m, " filter=%s passed=%lu", filters,
			   ks_passed(e));
	if (mode != KS_ENGAGED)
		seq_printf(m, " state=%s", ks_mode_name(mode));
	seq_putc(m, '\n');
	return 0;
}

static const struct seq_operations ks_engaged_sops = {
	.start = ks_engaged_start,
	.next = ks_engaged_next,
	.stop = ks_engaged_stop,
	.show = ks_engaged_show,
};

static int ks_engaged_open(struct inode *inode, struct file *file)
{
	return seq_open(file, &ks_engaged_sops);
}

static const struct file_operations ks_engaged_fops = {
	.owner = THIS_MODULE,
	.open = ks_engaged_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = seq_release,
};

static int ks_taint_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", test_taint(TAINT_OOT_MODULE) ? 1 : 0);
	return 0;
}

static int ks_taint_open(struct inode *inode, struct file *file)
{
	return single_open(file, ks_taint_show, NULL);
}

static const struct file_operations ks_taint_fops = {
	.owner = THIS_MODULE,
	.open = ks_taint_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

/* The symbol a per-function file belongs to: its directory's name. */
static const char *ks_file_sym(const struct file *file)
{
	return file_dentry(file)->d_parent->d_name.name;
}

/*
 * The live entry behind a per-function file, or NULL once that entry is
 * gone, even if the symbol has been engaged again since: the directory
 * must be the entry's own.
 */
static struct ks_entry *ks_file_entry(const struct file *file)
{
	struct ks_entry *e = ks_lookup(ks_file_sym(file));

	return e && e->dir == file_dentry(file)->d_parent ? e : NULL;
}

/* Slots a handler is writing, or rewrote while we copied, are skipped. */
static void ks_show_callers(struct seq_file *m, struct ks_entry *e)
{
	struct ks_caller *s, c;
	unsigned int i, seq;

	for (i = 0; i < KS_NCALLERS; i++) {
		s = &e->callers[i];
		seq = atomic_read_acquire(&s->seq);
		if (!seq || (seq & 1))
			continue;
		c.pid = READ_ONCE(s->pid);
		c.uid = READ_ONCE(s->uid);
		memcpy(c.comm, s->comm, sizeof(c.comm));
		/* Pairs with the release in ks_note_caller(): copy, then recheck. */
		smp_rmb();
		if (atomic_read(&s->seq) != seq)
			continue;
		c.comm[TASK_COMM_LEN - 1] = '\0';
		seq_printf(m, "%s %d %u\n", c.comm, c.pid, c.uid);
	}
}

static void ks_show_field(struct seq_file *m, struct ks_entry *e,
			  enum ks_field field)
{
	int mode = atomic_read(&e->mode);
	char filters[KS_FILTER_TEXT];
	long left;

	switch (field) {
	case KS_F_RETVAL:
		seq_printf(m, "%ld\n", atomic_long_read(&e->retval));
		break;
	case KS_F_HITS:
		seq_printf(m, "%lu\n", ks_hits(e));
		break;
	case KS_F_PASSED:
		seq_printf(m, "%lu\n", ks_passed(e));
		break;
	case KS_F_MISSED:
		seq_printf(m, "%lu\n", e->kp.nmissed);
		break;
	case KS_F_STATE:
		seq_printf(m, "%s\n", ks_mode_name(mode));
		break;
	case KS_F_TIMEOUT_LEFT:
		left = 0;
		if (mode == KS_PROBING)
			left = max(0L, (long)(e->deadline - jiffies));
		seq_printf(m, "%lu\n", DIV_ROUND_UP((unsigned long)left, HZ));
		break;
	case KS_F_FILTER:
		ks_format_filters(e, filters, sizeof(filters));
		seq_printf(m, "%s\n", filters);
		break;
	case KS_F_SINCE:
		seq_printf(m, "%lld\n", (long long)e->since);
		break;
	case KS_F_CALLERS:
		ks_show_callers(m, e);
		break;
	case KS_F_CONTEXTS:
		seq_printf(m, "task=%lu softirq=%lu hardirq=%lu nmi=%lu\n",
			   ks_calls_in(e, KS_CTX_TASK),
			   ks_calls_in(e, KS_CTX_SOFTIRQ),
			   ks_calls_in(e, KS_CTX_HARDIRQ),
			   ks_calls_in(e, KS_CTX_NMI));
		break;
	}
}

static int ks_fn_show(struct seq_file *m, void *v)
{
	enum ks_field field = (uintptr_t)m->private;
	struct ks_entry *e;
	int err = 0;

	mutex_lock(&ks_lock);
	e = ks_file_entry(m->file);
	if (e)
		ks_show_field(m, e, field);
	else
		err = -ENOENT;
	mutex_unlock(&ks_lock);
	return err;
}

static int ks_fn_open(struct inode *inode, struct file *file)
{
	return single_open(file, ks_fn_show, inode->i_private);
}

static ssize_t ks_retval_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	const char *sym = ks_file_sym(file);
	struct ks_entry *e;
	struct ks_actor who;
	size_t len;
	char *buf;
	long v;
	int err;

	if (!ks_capable(file))
		return -EPERM;
	buf = ks_copy_write(ubuf, count, 32);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	len = strlen(buf);
	if (buf[len - 1] == '\n')
		buf[len - 1] = '\0';
	err = ks_parse_long(buf, &v);
	kfree(buf);
	if (err)
		return err;

	ks_actor_current(&who);
	err = ks_may_change("retval", sym, &who);
	if (!err)
		err = ks_guard_check(sym, v, &who);
	if (err)
		return err;

	mutex_lock(&ks_lock);
	e = ks_file_entry(file);
	err = e ? ks_guard_entry(e, v, &who) : -ENOENT;
	if (!err)
		ks_set_retval(e, v, &who);
	mutex_unlock(&ks_lock);
	return err ? err : count;
}

static const struct file_operations ks_fn_fops = {
	.owner = THIS_MODULE,
	.open = ks_fn_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static const struct file_operations ks_retval_fops = {
	.owner = THIS_MODULE,
	.open = ks_fn_open,
	.read = seq_read,
	.write = ks_retval_write,
	.llseek = seq_lseek,
	.release = single_release,
};

/*
 * securityfs_remove() unlinks, but a dentry that an open file still holds
 * stays hashed and positive, and its directory then cannot be removed
 * (nor the symbol engaged again, nor, for the top-level files, the module
 * loaded again: securityfs_create_dir() finds the old "killswitch").
 * Finish the unlink the way vfs_unlink() does, with d_delete().
 */
static void ks_remove(struct dentry *d)
{
	struct inode *dir, *inode;

	if (IS_ERR_OR_NULL(d))
		return;
	dget(d);
	dir = d_inode(d->d_parent);
	inode = d_inode(d);
	ihold(inode);
	securityfs_remove(d);
	/*
	 * An O_PATH descriptor pins the dentry and the inode without a
	 * module reference, and reopening it through /proc/self/fd runs
	 * do_dentry_open() on inode->i_fop, which points into this module.
	 * A bad inode's operations are the kernel's own (-EIO).
	 */
	if (!S_ISDIR(inode->i_mode))
		make_bad_inode(inode);
	inode_lock(dir);
	d_delete(d);
	inode_unlock(dir);
	iput(inode);
	dput(d);
}

void ks_fs_remove(struct ks_entry *e)
{
	int i;

	for (i = 0; i < KS_NFILES; i++) {
		ks_remove(e->files[i]);
		e->files[i] = NULL;
	}
	ks_remove(e->dir);
	e->dir = NULL;
}

/* An observed function's directory is root's alone (see the top). */
void ks_fs_set_private(struct ks_entry *e, bool private)
{
	struct inode *inode = d_inode(e->dir);

	inode_lock(inode);
	inode->i_mode = (inode->i_mode & ~0777) | (private ? 0700 : 0755);
	inode_unlock(inode);
}

int ks_fs_add(struct ks_entry *e, bool private)
{
	const struct file_operations *fops;
	struct dentry *d;
	int i;

	d = securityfs_create_file(e->sym, S_IFDIR | (private ? 0700 : 0755),
				   ks_fn_dir, NULL, NULL);
	if (IS_ERR(d))
		return PTR_ERR(d);
	e->dir = d;
	for (i = 0; i < KS_NFILES; i++) {
		fops = i == KS_F_RETVAL ? &ks_retval_fops : &ks_fn_fops;
		d = securityfs_create_file(ks_fields[i].name, ks_fields[i].mode,
					   e->dir, (void *)(uintptr_t)i, fops);
		if (IS_ERR(d)) {
			ks_fs_remove(e);
			return PTR_ERR(d);
		}
		e->files[i] = d;
	}
	return 0;
}

int ks_fs_init(void)
{
	struct dentry *d;

	ks_root = securityfs_create_dir("killswitch", NULL);
	if (IS_ERR(ks_root))
		return PTR_ERR(ks_root);
	d = securityfs_create_dir("fn", ks_root);
	if (IS_ERR(d))
		goto fail;
	ks_fn_dir = d;
	d = securityfs_create_file("engaged", 0444, ks_root, NULL,
				   &ks_engaged_fops);
	if (IS_ERR(d))
		goto fail;
	ks_engaged = d;
	d = securityfs_create_file("taint", 0444, ks_root, NULL,
				   &ks_taint_fops);
	if (IS_ERR(d))
		goto fail;
	ks_taint = d;
	d = securityfs_create_file("control", 0200, ks_root, NULL,
				   &ks_control_fops);
	if (IS_ERR(d))
		goto fail;
	ks_control = d;
	return 0;
fail:
	ks_fs_exit();
	return PTR_ERR(d);
}

/*
 * First step of an unload.  The module is already going: an open of one
 * of its files can no longer pin it, and do_dentry_open() warns when
 * fops_get() fails.  securityfs, unlike debugfs, has no proxy to cover
 * that window, so make it as short as we can: the top-level files go
 * before the slow part of the unload (disarming every probe); each
 * engagement's directory goes as soon as the entry is detached.
 */
void ks_fs_hide(void)
{
	ks_remove(ks_control);
	ks_remove(ks_taint);
	ks_remove(ks_engaged);
	ks_control = NULL;
	ks_taint = NULL;
	ks_engaged = NULL;
}

/* Called with no engagement left: their directories are gone. */
void ks_fs_exit(void)
{
	ks_fs_hide();
	ks_remove(ks_fn_dir);
	ks_remove(ks_root);
	ks_fn_dir = NULL;
	ks_root = NULL;
}
