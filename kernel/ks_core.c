// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: the override mechanism.
 *
 * Owns the list of engagements, the kprobe pre-handler, the tryengage
 * probe window, teardown (one at a time and batched) and the module
 * notifier that drops engagements whose target module goes away.
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/err.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uidgid.h>
#include <linux/cred.h>
#include <linux/ctype.h>

#include "ks.h"

/* Serialises changes to ks_entries and to every entry's non-atomic state. */
DEFINE_MUTEX(ks_lock);
LIST_HEAD(ks_entries);

/* tryengage windows run here so unload can drain them all at once. */
static struct workqueue_struct *ks_wq;

const char *ks_mode_name(int mode)
{
	switch (mode) {
	case KS_PROBING:
		return "probing";
	case KS_OBSERVING:
		return "observing";
	default:
		return "engaged";
	}
}

unsigned long ks_sum(unsigned long __percpu *counter)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += *per_cpu_ptr(counter, cpu);
	return sum;
}

unsigned long ks_hits(const struct ks_entry *e)
{
	return ks_sum(&e->pcpu->hits);
}

unsigned long ks_passed(const struct ks_entry *e)
{
	return ks_sum(&e->pcpu->passed);
}

unsigned long ks_calls_in(const struct ks_entry *e, enum ks_context ctx)
{
	return ks_sum(&e->pcpu->ctx[ctx]);
}

/*
 * The caller's uid as from_kuid(&init_user_ns, ...) gives it: the initial
 * namespace maps every uid to itself, so this is the raw value, read
 * without the call (the handler runs on every hit of a hot function).
 */
static __always_inline uid_t ks_init_uid(void)
{
	return __kuid_val(current_uid());
}

/* Inlined into the handler, which is NOKPROBE_SYMBOL. */
static __always_inline bool ks_filter_holds(const struct ks_filter *f,
					    struct pt_regs *regs)
{
	unsigned long v;
	bool eq;

	if (f->kind == KS_FILTER_UID) {
		eq = ks_init_uid() == (u32)f->value;
	} else {
		v = regs_get_kernel_argument(regs, f->arg - 1);
		/*
		 * An int argument defines only the low 32 bits of its
		 * register: the grammar's argN:32 says so.  Otherwise all
		 * 64 bits count, so a size_t of 0x100000000 is not 0.
		 */
		if (f->width == 32)
			eq = (u32)v == (u32)f->value;
		else
			eq = v == (unsigned long)f->value;
	}
	return eq != f->negate;
}

static __always_inline bool ks_filters_hold(const struct ks_entry *e,
					    struct pt_regs *regs)
{
	unsigned int i;

	for (i = 0; i < e->nfilters; i++)
		if (!ks_filter_holds(&e->filters[i], regs))
			return false;
	return true;
}

static __always_inline enum ks_context ks_context(void)
{
	if (in_nmi())
		return KS_CTX_NMI;
	if (in_hardirq())
		return KS_CTX_HARDIRQ;
	if (in_serving_softirq())
		return KS_CTX_SOFTIRQ;
	return KS_CTX_TASK;
}

/* A caller as one word, so the handler can compare it without a lock. */
static __always_inline u64 ks_caller_key(void)
{
	return (u64)(u32)task_pid_nr(current) << 32 | ks_init_uid();
}

/* comm as the task set it, with anything that could forge a field replaced. */
static __always_inline void ks_copy_comm(char *dst)
{
	unsigned int i;
	char c;

	for (i = 0; i < TASK_COMM_LEN - 1; i++) {
		c = READ_ONCE(current->comm[i]);
		if (!c)
			break;
		if (!isalnum(c) && c != '_' && c != '-' && c != '.' &&
		    c != ':' && c != '/' && c != '+' && c != '@')
			c = '?';
		dst[i] = c;
	}
	dst[i] = '\0';
}

/*
 * Remember a distinct caller, from task context only: in an interrupt
 * "current" is whoever was interrupted, not a caller.  No lock: a slot is
 * claimed by moving its sequence to odd, and a writer that finds its slot
 * claimed drops the record, which is better than a stall.  The caller
 * found or added becomes e->last_caller, which lets the handler skip this
 * function for a caller that calls again.
 */
static void ks_note_caller(struct ks_entry *e, u64 key)
{
	uid_t uid = (u32)key;
	pid_t pid = key >> 32;
	struct ks_caller *c;
	unsigned int i, seq;

	for (i = 0; i < KS_NCALLERS; i++) {
		c = &e->callers[i];
		seq = atomic_read_acquire(&c->seq);
		if (seq && !(seq & 1) && READ_ONCE(c->pid) == pid &&
		    READ_ONCE(c->uid) == uid)
			goto out;
	}
	i = (unsigned int)atomic_inc_return(&e->callers_next) % KS_NCALLERS;
	c = &e->callers[i];
	seq = atomic_read(&c->seq);
	if ((seq & 1) || atomic_cmpxchg(&c->seq, seq, seq + 1) != seq)
		return;
	ks_copy_comm(c->comm);
	WRITE_ONCE(c->pid, pid);
	WRITE_ONCE(c->uid, uid);
	atomic_set_release(&c->seq, seq + 2);
out:
	WRITE_ONCE(e->last_caller, key);
}

NOKPROBE_SYMBOL(ks_note_caller);

/*
 * Runs in whatever context the target runs in: task, softirq, hardirq,
 * NMI.  It takes no lock and calls nothing that could (the per-CPU
 * counters, the atomic mode and retval, the lock-free caller slots).  An
 * observed entry has no filters; its filters are written once, before
 * the release that makes it engaged, and never read before.
 */
static int ks_pre_handler(struct kprobe *kp, struct pt_regs *regs)
{
	struct ks_entry *e = container_of(kp, struct ks_entry, kp);
	int mode = atomic_read_acquire(&e->mode);
	enum ks_context ctx;

	if (mode != KS_OBSERVING && !ks_filters_hold(e, regs)) {
		this_cpu_inc(e->pcpu->passed);
		return 0;
	}
	ctx = ks_context();
	this_cpu_inc(e->pcpu->hits);
	this_cpu_inc(e->pcpu->ctx[ctx]);
	if (mode != KS_ENGAGED) {
		u64 key;

		if (ctx != KS_CTX_TASK)
			return 0;
		key = ks_caller_key();
		if (READ_ONCE(e->last_caller) != key)
			ks_note_caller(e, key);
		return 0;
	}
	regs_set_return_value(regs, atomic_long_read(&e->retval));
	ks_override_function_with_return(regs);
	/* The instruction pointer changed: the probe layer must not step. */
	return 1;
}

NOKPROBE_SYMBOL(ks_pre_handler);

/*
 * A post-handler makes the kprobe layer arm the probe with an IPMODIFY
 * ftrace ops and forbids jump optimisation, which would ignore the
 * redirect above.  fail_function does the same.
 */
static void ks_post_handler(struct kprobe *kp, struct pt_regs *regs,
			    unsigned long flags)
{
}

NOKPROBE_SYMBOL(ks_post_handler);

struct ks_entry *ks_lookup(const char *sym)
{
	struct ks_entry *e;

	lockdep_assert_held(&ks_lock);
	list_for_each_entry(e, &ks_entries, list)
		if (!strcmp(e->sym, sym))
			return e;
	return NULL;
}

void ks_format_filters(const struct ks_entry *e, char *buf, size_t len)
{
	const struct ks_filter *f;
	size_t n = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < e->nfilters && n < len; i++) {
		f = &e->filters[i];
		if (f->kind == KS_FILTER_UID)
			n += scnprintf(buf + n, len - n, "%suid%s=%ld",
				       i ? "," : "", f->negate ? "!" : "",
				       f->value);
		else
			n += scnprintf(buf + n, len - n, "%sarg%u%s%s=%ld",
				       i ? "," : "", f->arg,
				       f->width == 32 ? ":32" : "",
				       f->negate ? "!" : "", f->value);
	}
}

static void ks_free(struct ks_entry *e)
{
	free_percpu(e->pcpu);
	kfree(e);
}

static void ks_probe_expired(struct work_struct *work);

static struct ks_entry *ks_alloc(const struct ks_request *req,
				 const struct ks_actor *who)
{
	struct ks_entry *e;

	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return NULL;
	e->pcpu = alloc_percpu(struct ks_pcpu);
	if (!e->pcpu) {
		kfree(e);
		return NULL;
	}
	strscpy(e->sym, req->sym, sizeof(e->sym));
	e->kp.symbol_name = e->sym;
	e->kp.pre_handler = ks_pre_handler;
	e->kp.post_handler = ks_post_handler;
	atomic_long_set(&e->retval, req->retval);
	e->nfilters = req->nfilters;
	memcpy(e->filters, req->filters, sizeof(e->filters));
	e->last_caller = U64_MAX;	/* no pid is -1: matches no caller */
	INIT_DELAYED_WORK(&e->probe_work, ks_probe_expired);
	e->actor = *who;
	return e;
}

static const char *ks_register_reason(int err)
{
	switch (err) {
	case -ENOENT:
		return "no such symbol (is its module loaded?)";
	case -EINVAL:
		return "not probeable: blacklisted, non-traceable section or not a function entry";
	case -EILSEQ:
		return "address is not on an instruction boundary";
	case -EBUSY:
		return "another IPMODIFY user owns it (livepatch or another override)";
	case -ENODEV:
		return "kprobes are disabled";
	default:
		return "refused by register_kprobe";
	}
}

/* Another engagement on the same function under another name. */
static struct ks_entry *ks_lookup_addr(const void *addr)
{
	struct ks_entry *e;

	list_for_each_entry(e, &ks_entries, list)
		if (e->kp.addr == addr)
			return e;
	return NULL;
}

static const char *ks_verb_name(enum ks_verb verb)
{
	switch (verb) {
	case KS_VERB_OBSERVE:
		return "observe";
	case KS_VERB_TRYENGAGE:
		return "tryengage";
	default:
		return "engage";
	}
}

/* Engage a symbol that is only observed, in place: no moment without the probe. */
static int ks_convert(struct ks_entry *e, const struct ks_request *req,
		      const struct ks_actor *who)
{
	char filters[KS_FILTER_TEXT];
	int err;

	if (req->verb != KS_VERB_ENGAGE ||
	    atomic_read(&e->mode) != KS_OBSERVING) {
		ks_audit(who, "%s %s refused: already %s",
			 ks_verb_name(req->verb), req->sym,
			 ks_mode_name(atomic_read(&e->mode)));
		return -EBUSY;
	}
	err = ks_target_override_ok(e->sym, who);
	if (!err)
		err = ks_guard_entry(e, req->retval, who);
	if (err)
		return err;
	/* The handler reads no filters while observing: see ks_pre_handler(). */
	atomic_long_set(&e->retval, req->retval);
	e->nfilters = req->nfilters;
	memcpy(e->filters, req->filters, sizeof(e->filters));
	e->actor = *who;
	ks_format_filters(e, filters, sizeof(filters));
	ks_audit(who, "engage %s retval=%ld%s%s from observe hits=%lu",
		 e->sym, req->retval, *filters ? " filter=" : "", filters,
		 ks_hits(e));
	atomic_set_release(&e->mode, KS_ENGAGED);
	ks_fs_set_private(e, false);
	return 0;
}

/*
 * Install a new engagement: engage, tryengage (probe window first) or
 * observe.  The probe is registered disarmed, judged (ks_target.c), given
 * its files and its audit line, and armed last: no call is overridden
 * before the log says so.
 */
int ks_install(const struct ks_request *req, const struct ks_actor *who)
{
	const char *verb = ks_verb_name(req->verb);
	char filters[KS_FILTER_TEXT];
	enum ks_mode mode = KS_ENGAGED;
	struct ks_entry *e, *other;
	int err;

	if (req->verb == KS_VERB_OBSERVE)
		mode = KS_OBSERVING;
	else if (req->verb == KS_VERB_TRYENGAGE && req->timeout)
		mode = KS_PROBING;

	mutex_lock(&ks_lock);
	e = ks_lookup(req->sym);
	if (e) {
		err = ks_convert(e, req, who);
		mutex_unlock(&ks_lock);
		return err;
	}
	mutex_unlock(&ks_lock);

	e = ks_alloc(req, who);
	if (!e)
		return -ENOMEM;
	atomic_set(&e->mode, mode);
	e->since = ktime_get_boottime_seconds();
	if (mode == KS_PROBING) {
		e->timeout = req->timeout;
		e->deadline = jiffies + (unsigned long)req->timeout * HZ;
	}

	/*
	 * Judged without ks_lock: it reads /proc/kallsyms, a seq_file, and
	 * reading `engaged` takes a seq_file's lock and then ks_lock.
	 */
	err = ks_target_prepare(&e->kp, e->sym, verb, who);
	if (!err && mode != KS_OBSERVING)
		err = ks_target_override_ok(e->sym, who);
	if (err) {
		ks_free(e);
		return err;
	}
	mutex_lock(&ks_lock);
	if (ks_lookup(req->sym)) {
		/* Engaged by another writer meanwhile. */
		ks_audit(who, "%s %s refused: already engaged", verb, req->sym);
		err = -EBUSY;
		goto free;
	}
	e->kp.flags = KPROBE_FLAG_DISABLED;
	err = register_kprobe(&e->kp);
	if (err) {
		ks_audit(who, "%s %s refused: register_kprobe: %d (%s)",
			 verb, req->sym, err, ks_register_reason(err));
		goto free;
	}
	err = ks_target_check(&e->kp, e->sym, who);
	if (err)
		goto unregister;
	other = ks_lookup_addr(e->kp.addr);
	if (other) {
		ks_audit(who, "%s %s refused: the same function is already %s as %s",
			 verb, req->sym,
			 ks_mode_name(atomic_read(&other->mode)), other->sym);
		err = -EBUSY;
		goto unregister;
	}
	/* e->where (KSYM_SYMBOL_LEN) holds the bare name for a moment. */
	sprint_symbol_no_offset(e->where, (unsigned long)e->kp.addr);
	e->where[strcspn(e->where, " .")] = '\0';
	strscpy(e->func, e->where, sizeof(e->func));
	snprintf(e->where, sizeof(e->where), "%pS", e->kp.addr);
	if (mode != KS_OBSERVING) {
		err = ks_guard_entry(e, req->retval, who);
		if (err)
			goto unregister;
	}
	err = ks_fs_add(e, mode == KS_OBSERVING);
	if (err) {
		ks_audit(who, "%s %s refused: cannot create its files: %d",
			 verb, req->sym, err);
		goto unregister;
	}

	/* Where the name landed: which of several statics, which module. */
	pr_info("%s %s: the probe is at %s\n", verb, e->sym, e->where);
	ks_format_filters(e, filters, sizeof(filters));
	if (mode == KS_OBSERVING)
		ks_audit(who, "observe %s", e->sym);
	else if (mode == KS_PROBING)
		ks_audit(who, "tryengage %s probing retval=%ld%s%s T=%u",
			 e->sym, req->retval, *filters ? " filter=" : "",
			 filters, req->timeout);
	else
		ks_audit(who, "engage %s retval=%ld%s%s",
			 e->sym, req->retval, *filters ? " filter=" : "",
			 filters);

	err = enable_kprobe(&e->kp);
	if (err) {
		ks_audit(who, "%s %s failed: cannot arm the probe: %d (%s); nothing changed",
			 verb, req->sym, err, ks_register_reason(err));
		ks_fs_remove(e);
		goto unregister;
	}
	list_add_tail(&e->list, &ks_entries);
	if (mode == KS_PROBING)
		queue_delayed_work(ks_wq, &e->probe_work,
				   (unsigned long)req->timeout * HZ);
	goto unlock;

unregister:
	unregister_kprobe(&e->kp);
free:
	ks_free(e);
unlock:
	mutex_unlock(&ks_lock);
	return err;
}

/*
 * Judge a target that another path will probe (engagebpf's program): the
 * same rules as an engagement with an override, by registering a probe
 * that is never armed.
 */
int ks_target_vet(const char *sym, const struct ks_actor *who)
{
	struct kprobe kp = {};
	char name[KSYM_NAME_LEN];
	int err;

	strscpy(name, sym, sizeof(name));
	err = ks_target_prepare(&kp, name, "engagebpf", who);
	if (!err)
		err = ks_target_override_ok(name, who);
	if (err)
		return err;
	mutex_lock(&ks_lock);
	kp.flags = KPROBE_FLAG_DISABLED;
	err = register_kprobe(&kp);
	if (err) {
		ks_audit(who, "engagebpf %s refused: register_kprobe: %d (%s)",
			 sym, err, ks_register_reason(err));
		goto unlock;
	}
	err = ks_target_check(&kp, name, who);
	unregister_kprobe(&kp);
unlock:
	mutex_unlock(&ks_lock);
	return err;
}

/* Take @e out of the list and the filesystem; the caller finishes it. */
static void ks_detach(struct ks_entry *e)
{
	lockdep_assert_held(&ks_lock);
	list_del(&e->list);
	e->dead = true;
	ks_fs_remove(e);
}

/*
 * Finish detached entries: stop their probe windows, remove their probes
 * in batches (one RCU grace period per batch), log, free.  The batches and
 * the cond_resched() keep a disengage_all of hundreds of probes from
 * holding the CPU for tens of seconds without a quiescent state on a
 * non-preemptible kernel (each probe is an ftrace code patch, each log
 * line a console write): the debug kernel reported an RCU stall there.
 */
#define KS_RELEASE_BATCH	32
static void ks_release(struct list_head *gone, const char *verb,
		       const char *why, const struct ks_actor *who)
{
	struct ks_entry *e, *tmp;
	struct kprobe **kps;
	int n = 0, i = 0;

	list_for_each_entry(e, gone, list) {
		cancel_delayed_work_sync(&e->probe_work);
		n++;
	}
	if (!n)
		return;
	kps = kmalloc_array(n, sizeof(*kps), GFP_KERNEL);
	list_for_each_entry(e, gone, list) {
		if (kps)
			kps[i++] = &e->kp;
		else
			unregister_kprobe(&e->kp);
	}
	for (i = 0; kps && i < n; i += KS_RELEASE_BATCH) {
		unregister_kprobes(kps + i, min(n - i, KS_RELEASE_BATCH));
		cond_resched();
	}
	kfree(kps);

	list_for_each_entry_safe(e, tmp, gone, list) {
		ks_audit(who ? who : &e->actor, "%s%s %s retval=%ld hits=%lu missed=%lu state=%s",
			 why, verb, e->sym, atomic_long_read(&e->retval),
			 ks_hits(e), e->kp.nmissed,
			 ks_mode_name(atomic_read(&e->mode)));
		list_del(&e->list);
		ks_free(e);
		cond_resched();
	}
}

int ks_disengage(const char *sym, const struct ks_actor *who)
{
	LIST_HEAD(gone);
	struct ks_entry *e;

	mutex_lock(&ks_lock);
	e = ks_lookup(sym);
	if (!e) {
		mutex_unlock(&ks_lock);
		return -ENOENT;
	}
	ks_detach(e);
	list_add(&e->list, &gone);
	mutex_unlock(&ks_lock);

	ks_release(&gone, "disengage", "", who);
	return 0;
}

int ks_disengage_all(const struct ks_actor *who)
{
	struct ks_entry *e, *tmp;
	LIST_HEAD(gone);

	mutex_lock(&ks_lock);
	list_for_each_entry_safe(e, tmp, &ks_entries, list) {
		ks_detach(e);
		list_add_tail(&e->list, &gone);
	}
	mutex_unlock(&ks_lock);

	ks_release(&gone, "disengage", "", who);
	return 0;
}

/* Change a live engagement's return value; the next call sees it. */
void ks_set_retval(struct ks_entry *e, long retval, const struct ks_actor *who)
{
	long old;

	lockdep_assert_held(&ks_lock);
	old = atomic_long_xchg(&e->retval, retval);
	ks_audit(who, "retval %s %ld -> %ld",
		 e->sym, old, retval);
}

/* End of a tryengage window: commit if nothing called, else abort. */
static void ks_probe_expired(struct work_struct *work)
{
	struct ks_entry *e = container_of(to_delayed_work(work),
					  struct ks_entry, probe_work);
	unsigned long hits;

	mutex_lock(&ks_lock);
	if (e->dead) {
		mutex_unlock(&ks_lock);
		return;
	}
	hits = ks_hits(e);
	if (!hits) {
		atomic_set_release(&e->mode, KS_ENGAGED);
		ks_audit(&e->actor, "tryengage %s committed retval=%ld T=%u",
			 e->sym, atomic_long_read(&e->retval), e->timeout);
		mutex_unlock(&ks_lock);
		return;
	}
	ks_detach(e);
	mutex_unlock(&ks_lock);

	/* Not on any list now: only this work item can reach it. */
	unregister_kprobe(&e->kp);
	ks_audit(&e->actor, "tryengage %s aborted: hits=%lu retval=%ld T=%u",
		 e->sym, ks_hits(e), atomic_long_read(&e->retval),
		 e->timeout);
	ks_free(e);
}

/*
 * Kprobes take no reference on the target's module, so it may unload
 * while engaged.  Run before the kprobe layer's own notifier (priority 0)
 * to remove our probes while the text is still there, and say so: the
 * host is exposed again if the module comes back.  A probe in a module's
 * init text goes the same way when the module goes live and the kernel
 * frees that text.  Any module coming or going changes which names are
 * shared (ks_target.c).
 */
static int ks_module_notify(struct notifier_block *nb, unsigned long action,
			    void *data)
{
	struct module *mod = data;
	struct ks_entry *e, *tmp;
	struct ks_actor who;
	char why[MODULE_NAME_LEN + 64];
	bool live = action == MODULE_STATE_LIVE;
	unsigned long addr;
	LIST_HEAD(gone);

	if (action == MODULE_STATE_COMING || action == MODULE_STATE_GOING)
		ks_target_symbols_changed();
	if (action != MODULE_STATE_GOING && !live)
		return NOTIFY_DONE;

	mutex_lock(&ks_lock);
	list_for_each_entry_safe(e, tmp, &ks_entries, list) {
		addr = (unsigned long)e->kp.addr;
		if (live ? !within_module_init(addr, mod) :
			   !within_module(addr, mod))
			continue;
		ks_detach(e);
		list_add_tail(&e->list, &gone);
	}
	mutex_unlock(&ks_lock);
	if (list_empty(&gone))
		return NOTIFY_OK;

	ks_actor_current(&who);
	snprintf(why, sizeof(why), live ?
		 "mitigation lost: module %s freed the init code it was on: " :
		 "mitigation lost: module %s unloading: ", mod->name);
	ks_release(&gone, "disengage", why, &who);
	return NOTIFY_OK;
}

static struct notifier_block ks_module_nb = {
	.notifier_call = ks_module_notify,
	.priority = 1,
};

int ks_core_init(void)
{
	int err;

	ks_wq = alloc_workqueue("killswitch", WQ_UNBOUND, 0);
	if (!ks_wq)
		return -ENOMEM;
	err = register_module_notifier(&ks_module_nb);
	if (err)
		destroy_workqueue(ks_wq);
	return err;
}

/*
 * Unload: no file can be open (each open file holds a module reference;
 * ks_fs.c turns the inodes an O_PATH descriptor may still reach into bad
 * inodes), so only the probe windows and the module notifier can still
 * run.  Cancel the
 * windows synchronously, then drain the queue for windows that aborted
 * on their own, before the module text goes away.
 */
void ks_core_exit(void)
{
	struct ks_actor who;

	unregister_module_notifier(&ks_module_nb);
	ks_actor_current(&who);
	ks_disengage_all(&who);
	destroy_workqueue(ks_wq);
	ks_target_exit();
}
