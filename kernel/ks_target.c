// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: what may be a target.  Refused whatever guard= says:
 *
 *  - killswitch.ko itself (the handler, the stub, the guard, the exit
 *    path): a probe there switches the module's own checks off, or
 *    outlives the text its handler lives in;
 *  - anything but a real function entry.  On x86 the probe must sit on
 *    the function's ftrace site, which a .cold fragment, an assembly
 *    routine or a notrace function lacks; returning from a fragment
 *    returns into its parent's frame;
 *  - for an override, functions that never return (do_exit, panic...),
 *    whose callers assume the call does not come back, and functions
 *    that return outside the C convention (__get_user_N in edx);
 *  - a name several functions share, unless it is qualified: as
 *    module:name for a module's function, or as name@0x<address> with the
 *    address /proc/kallsyms gives for it.  The log line names the
 *    function the probe landed on (%pS).
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/fs.h>
#include <linux/ftrace.h>
#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/bsearch.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "ks.h"

/*
 * Functions that do not return, from objtool's global_noreturns list
 * (tools/objtool/check.c, noreturns.h in later kernels) and the kernel's
 * __noreturn declarations.  Matched on the name before any '.' suffix.
 */
static const char * const ks_noreturns[] = {
	"__invalid_creds", "__module_put_and_kthread_exit",
	"__reiserfs_panic", "__stack_chk_fail",
	"__ubsan_handle_builtin_unreachable", "__x64_sys_exit",
	"__x64_sys_exit_group", "__arm64_sys_exit", "__arm64_sys_exit_group",
	"__do_sys_exit", "__do_sys_exit_group", "arch_cpu_idle_dead",
	"bch2_trans_in_restart_error", "bch2_trans_restart_error",
	"cpu_bringup_and_idle", "cpu_startup_entry", "die", "do_exit",
	"do_group_exit", "do_task_dead", "ex_handler_msr_mce",
	"fortify_panic", "__fortify_panic", "hlt_play_dead",
	"hv_ghcb_terminate", "kthread_complete_and_exit", "kthread_exit",
	"kunit_try_catch_throw", "lbug_with_loc", "machine_real_restart",
	"make_task_dead", "mpt_halt_firmware", "nmi_panic_self_stop",
	"panic", "panic_smp_self_stop", "play_dead", "rest_init",
	"rewind_stack_and_make_dead", "sev_es_terminate", "snp_abort",
	"start_kernel", "stop_this_cpu", "usercopy_abort",
	"x86_64_start_kernel", "x86_64_start_reservations",
	"xen_cpu_bringup_again", "xen_start_kernel", "emergency_restart",
	"machine_restart", "machine_halt", "machine_power_off",
	"kernel_restart", "kernel_halt", "kernel_power_off",
	"__warn_printk_noreturn", "do_exit_noreturn", "cpu_die",
	"__cpu_die", "__bug", "bug", "BUG", "__brk_handler",
};

/* Return outside rax/x0, or through a hidden pointer. */
static const char * const ks_odd_returns[] = {
	"__get_user_", "__put_user_", "__get_user_nocheck_",
	"__put_user_nocheck_",
};

/* "mod:name.isra.0@0x..." -> "name" */
static void ks_base(const char *sym, char *buf, size_t len)
{
	const char *colon = strchr(sym, ':');

	strscpy(buf, colon ? colon + 1 : sym, len);
	buf[strcspn(buf, ".@")] = '\0';
}

/* "mod:name.cold@0x..." -> "mod:name.cold" (what kallsyms calls it) */
static void ks_plain(const char *sym, char *buf, size_t len)
{
	strscpy(buf, sym, len);
	buf[strcspn(buf, "@")] = '\0';
}

static bool ks_listed(const char *base, const char * const *list, size_t n,
		      bool prefix)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (prefix ? !strncmp(base, list[i], strlen(list[i])) :
			     !strcmp(base, list[i]))
			return true;
	return false;
}

/* An override of @sym: refused if it never returns or returns oddly. */
int ks_target_override_ok(const char *sym, const struct ks_actor *who)
{
	char base[KSYM_NAME_LEN];

	ks_base(sym, base, sizeof(base));
	if (ks_listed(base, ks_noreturns, ARRAY_SIZE(ks_noreturns), false)) {
		ks_audit(who,
			 "engage %s refused: %s never returns (noreturn), so its callers cannot handle a return; mitigate at its caller instead",
			 sym, base);
		return -EINVAL;
	}
	if (ks_listed(base, ks_odd_returns, ARRAY_SIZE(ks_odd_returns), true)) {
		ks_audit(who,
			 "engage %s refused: %s returns its result outside the C return register, so an override cannot set it; mitigate at its caller instead",
			 sym, base);
		return -EINVAL;
	}
	return 0;
}

/*
 * The text symbols' names, and those more than one symbol carries, as
 * sorted 64-bit hashes of "name" and "module:name".  Built from
 * /proc/kallsyms on first use and again after a module came or went;
 * under ks_lock.  They let the module judge a name before any probe is
 * registered: registering a probe off an ftrace site prepares a jump
 * optimisation, which decodes the whole function and on 6.12 read past
 * a module's last function into an unmapped page (an oops).
 */
struct ks_sym {
	u64 hash;
	unsigned long addr;	/* 0 where kallsyms hides addresses */
};

/*
 * Its own lock, never held with ks_lock: filling the table reads
 * /proc/kallsyms under a seq_file lock, and reading `engaged` takes a
 * seq_file lock and then ks_lock.
 */
static DEFINE_MUTEX(ks_syms_lock);
static struct ks_sym *ks_syms;	/* sorted by hash; a shared name repeats */
static size_t ks_nsyms;
static bool ks_dups_stale = true;

static u64 ks_hash(const char *s, size_t len)
{
	u64 h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	while (len--) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int ks_cmp_sym(const void *a, const void *b)
{
	u64 x = ((const struct ks_sym *)a)->hash;
	u64 y = ((const struct ks_sym *)b)->hash;

	return x < y ? -1 : x > y;
}

struct ks_syms {
	struct ks_sym *v;
	size_t n, cap;
};

static int ks_syms_add(struct ks_syms *t, u64 hash, unsigned long addr)
{
	struct ks_sym *bigger;

	if (t->n == t->cap) {
		bigger = kvmalloc_array(t->cap * 2, sizeof(*bigger), GFP_KERNEL);
		if (!bigger)
			return -ENOMEM;
		memcpy(bigger, t->v, t->n * sizeof(*bigger));
		kvfree(t->v);
		t->v = bigger;
		t->cap *= 2;
	}
	t->v[t->n].hash = hash;
	t->v[t->n].addr = addr;
	t->n++;
	return 0;
}

/* "ffffffff81000000 T name\t[mod]": text symbols only. */
static int ks_kallsyms_line(struct ks_syms *t, char *line)
{
	char *type = strchr(line, ' '), *name, *mod, *end;
	char key[KSYM_NAME_LEN + MODULE_NAME_LEN + 1];
	unsigned long addr;
	int err;

	if (!type || !strchr("tTwW", type[1]) || type[2] != ' ')
		return 0;
	*type = '\0';
	if (kstrtoul(line, 16, &addr))
		addr = 0;
	name = type + 3;
	end = name + strcspn(name, "\t");
	err = ks_syms_add(t, ks_hash(name, end - name), addr);
	if (err || *end != '\t')
		return err;
	mod = end + 1;
	if (*mod != '[' || !strchr(mod, ']'))
		return 0;
	mod++;
	snprintf(key, sizeof(key), "%.*s:%.*s", (int)strcspn(mod, "]"), mod,
		 (int)(end - name), name);
	return ks_syms_add(t, ks_hash(key, strlen(key)), addr);
}

/*
 * One chunk of /proc/kallsyms.  Its read is seq_read, which kernel_read()
 * does not support (no read_iter) and which copies to user memory, so the
 * chunk goes through a scratch mapping in the writer's own address space
 * (the control write, or modprobe for engage=).
 */
static ssize_t ks_read_chunk(struct file *f, char *buf, size_t len,
			     loff_t *pos, unsigned long scratch)
{
	ssize_t r;

	if (f->f_op->read_iter)
		return kernel_read(f, buf, len, pos);
	if (!f->f_op->read || !scratch)
		return -EOPNOTSUPP;
	r = f->f_op->read(f, (char __user *)scratch, len, pos);
	if (r > 0 && copy_from_user(buf, (const char __user *)scratch, r))
		return -EFAULT;
	return r;
}

static int ks_kallsyms_scan(struct ks_syms *t)
{
	const size_t size = 64 * 1024;
	unsigned long scratch = 0;
	size_t have = 0, used;
	struct file *f;
	loff_t pos = 0;
	char *buf, *nl, *line;
	ssize_t r;
	int err = 0;

	f = filp_open("/proc/kallsyms", O_RDONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	buf = kvmalloc(size + 1, GFP_KERNEL);
	if (!buf) {
		filp_close(f, NULL);
		return -ENOMEM;
	}
	if (!f->f_op->read_iter && current->mm) {
		scratch = vm_mmap(NULL, 0, size, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, 0);
		if (IS_ERR_VALUE(scratch))
			scratch = 0;
	}
	while (!err &&
	       (r = ks_read_chunk(f, buf + have, size - have, &pos, scratch)) > 0) {
		have += r;
		buf[have] = '\0';
		line = buf;
		while (!err && (nl = strchr(line, '\n'))) {
			*nl = '\0';
			err = ks_kallsyms_line(t, line);
			line = nl + 1;
		}
		used = line - buf;
		if (!used && have == size)
			err = -E2BIG;	/* a line longer than 64 KiB */
		memmove(buf, line, have - used);
		have -= used;
		cond_resched();
	}
	if (!err && r < 0)
		err = r;
	if (scratch)
		vm_munmap(scratch, size);
	kvfree(buf);
	filp_close(f, NULL);
	return err;
}

static int ks_dups_refresh(void)
{
	struct ks_syms t = { .cap = 1 << 16 };
	int err;

	t.v = kvmalloc_array(t.cap, sizeof(*t.v), GFP_KERNEL);
	if (!t.v)
		return -ENOMEM;
	err = ks_kallsyms_scan(&t);
	if (err) {
		kvfree(t.v);
		return err;
	}
	sort(t.v, t.n, sizeof(*t.v), ks_cmp_sym, NULL);
	kvfree(ks_syms);
	ks_syms = t.v;
	ks_nsyms = t.n;
	ks_dups_stale = false;
	return 0;
}

/* The set of names is stale once a module came or went. */
void ks_target_symbols_changed(void)
{
	WRITE_ONCE(ks_dups_stale, true);
}

void ks_target_exit(void)
{
	kvfree(ks_syms);
	ks_syms = NULL;
}

enum ks_name { KS_NAME_MISSING, KS_NAME_UNIQUE, KS_NAME_SHARED };

/* How many text symbols carry @name, and the address of a unique one. */
static int ks_name_state(const char *name, enum ks_name *state,
			 unsigned long *addr)
{
	struct ks_sym key = { .hash = ks_hash(name, strlen(name)) };
	const struct ks_sym *hit;
	size_t i;
	int err;

	lockdep_assert_held(&ks_syms_lock);
	if (READ_ONCE(ks_dups_stale)) {
		err = ks_dups_refresh();
		if (err)
			return err;
	}
	*state = KS_NAME_MISSING;
	*addr = 0;
	hit = bsearch(&key, ks_syms, ks_nsyms, sizeof(key), ks_cmp_sym);
	if (!hit)
		return 0;
	i = hit - ks_syms;
	*state = (i > 0 && ks_syms[i - 1].hash == key.hash) ||
		 (i + 1 < ks_nsyms && ks_syms[i + 1].hash == key.hash) ?
		 KS_NAME_SHARED : KS_NAME_UNIQUE;
	*addr = hit->addr;
	return 0;
}

/*
 * Does ftrace manage a function entry by this name (or at this address)?
 * Asked of a fresh ftrace_ops that is never registered: ftrace_free_filter()
 * frees its filter without forgetting it, so an ops serves one question.
 */
static bool ks_ftrace_entry(const char *name, unsigned long ip)
{
	struct ftrace_ops *ops;
	char *buf = NULL;
	int err = -ENOMEM;

	ops = kzalloc(sizeof(*ops), GFP_KERNEL);
	if (name)
		buf = kstrdup(name, GFP_KERNEL);
	if (ops && (buf || !name)) {
		err = buf ? ftrace_set_filter(ops, buf, strlen(buf), 1) :
			    ftrace_set_filter_ip(ops, ip, 0, 1);
		ftrace_free_filter(ops);
	}
	kfree(buf);
	kfree(ops);
	return !err;
}

static int ks_not_entry(const char *sym, const char *what,
			const struct ks_actor *who)
{
	ks_audit(who,
		 "%s refused: %s is not a function entry that ftrace manages (an assembly, notrace, __init/__exit or non-entry symbol); target the C function that calls it",
		 sym, what);
	return -EINVAL;
}

/* name@0x<address>: the entry of the function of that name. */
static int ks_prepare_addr(struct kprobe *kp, const char *sym,
			   const char *plain, const char *at,
			   const struct ks_actor *who)
{
	char found[KSYM_SYMBOL_LEN];
	unsigned long addr;
	size_t len = strlen(plain);

	if (strncmp(at + 1, "0x", 2) || kstrtoul(at + 3, 16, &addr) ||
	    at == sym) {
		ks_audit(who,
			 "%s refused: a qualified name is <name>@0x<address>, the address /proc/kallsyms gives for it",
			 sym);
		return -EINVAL;
	}
	sprint_symbol(found, addr);
	if (strncmp(found, plain, len) || strncmp(found + len, "+0x0/", 5)) {
		ks_audit(who,
			 "%s refused: the function at that address is %s, not the entry of %s; take the address from /proc/kallsyms",
			 sym, found, plain);
		return -EINVAL;
	}
	if (!ks_ftrace_entry(NULL, addr))
		return ks_not_entry(sym, found, who);
	kp->addr = (kprobe_opcode_t *)addr;
	kp->symbol_name = NULL;
	return 0;
}

/*
 * Judge the name as the operator wrote it and fill @kp, before any probe
 * exists: only a name kallsyms has once, whose function ftrace manages,
 * is ever registered (see ks_syms).  @sym must outlive the probe.  Not
 * under ks_lock.
 */
int ks_target_prepare(struct kprobe *kp, char *sym, const char *verb,
		      const struct ks_actor *who)
{
	char base[KSYM_NAME_LEN], plain[KSYM_NAME_LEN];
	const char *colon, *at = strchr(sym, '@');
	enum ks_name state, bare;
	unsigned long addr, bare_addr;
	int err;

	ks_base(sym, base, sizeof(base));
	ks_plain(sym, plain, sizeof(plain));
	if (strstr(plain, ".cold")) {
		ks_audit(who,
			 "%s refused: %s is a .cold fragment of %s, not a function entry; target %s itself",
			 sym, plain, base, base);
		return -EINVAL;
	}
	colon = strchr(plain, ':');
	if (at)
		return ks_prepare_addr(kp, sym, colon ? colon + 1 : plain, at, who);

	mutex_lock(&ks_syms_lock);
	err = ks_name_state(plain, &state, &addr);
	bare = state;
	if (!err && colon)
		err = ks_name_state(colon + 1, &bare, &bare_addr);
	mutex_unlock(&ks_syms_lock);
	if (err) {
		ks_audit(who,
			 "%s refused: cannot read /proc/kallsyms to judge the name: %d",
			 sym, err);
		return err;
	}
	if (state == KS_NAME_MISSING) {
		ks_audit(who,
			 "%s %s refused: no such symbol (is its module loaded?)",
			 verb, sym);
		return -ENOENT;
	}
	if (state == KS_NAME_SHARED || bare == KS_NAME_SHARED) {
		ks_audit(who,
			 "%s refused: several functions are named %s; qualify it as %s@0x<address> with the address /proc/kallsyms gives for the one you mean%s",
			 sym, colon ? colon + 1 : plain, colon ? colon + 1 : plain,
			 colon ? "" : " (or as <module>:name if only one is in that module)");
		return -ENOTUNIQ;
	}
	/*
	 * By address where kallsyms shows it: an alias (__x64_sys_getuid is
	 * __do_sys_getuid) is not the name ftrace knows the function by.
	 */
	if (!ks_ftrace_entry(addr ? NULL : colon ? colon + 1 : plain, addr))
		return ks_not_entry(sym, plain, who);
	kp->symbol_name = sym;
	return 0;
}

/*
 * The probe is registered but not armed: judge where it landed.  On
 * refusal the caller unregisters it.
 */
int ks_target_check(struct kprobe *kp, const char *sym,
		    const struct ks_actor *who)
{
	if (within_module((unsigned long)kp->addr, THIS_MODULE)) {
		ks_audit(who,
			 "%s refused: it is killswitch's own code (%pS); the module never targets itself",
			 sym, kp->addr);
		return -EPERM;
	}
	if (!ks_arch_function_entry(kp))
		return ks_not_entry(sym, "the probed address", who);
	return 0;
}
