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

	if (f->kind == KS_FILTER_UID)
		v = ks_init_uid();
	else
		v = regs_get_kernel_argument(regs, f->arg - 1);
	/*
	 * An int argument only defines the low 32 bits of its register
	 * (a negative int arrives zero-extended on x86_64), so a value that
	 * fits 32 bits is compared on those alone.
	 */
	if (f->narrow)
		eq = (u32)v == (u32)f->value;
	else
		eq = v == (unsigned long)f->value;
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

/* A caller as one word, so the handler can compare it without a lock. */
static __always_inline u64 ks_caller_key(void)
{
	return (u64)(u32)task_pid_nr(current) << 32 | ks_init_uid();
}

/*
 * Remember a distinct caller.  Only a trylock: the handler may run in
 * any context, and a dropped record is better than a stall.  The caller
 * found or added becomes e->last_caller, which lets the handler skip
 * this function (and the lock) for a caller that calls again; a caller
 * racing with an eviction may then go unrecorded, as with the trylock.
 */
static void ks_note_caller(struct ks_entry *e, u64 key)
{
	struct ks_caller *c;
	unsigned long flags;
	uid_t uid = (u32)key;
	pid_t pid = key >> 32;
	unsigned int i;

	if (!raw_spin_trylock_irqsave(&e->callers_lock, flags))
		return;
	for (i = 0; i < e->ncallers; i++) {
		c = &e->callers[i];
		if (c->pid == pid && c->uid == uid)
			goto out;
	}
	c = &e->callers[e->callers_next];
	get_task_comm(c->comm, current);
	c->pid = pid;
	c->uid = uid;
	e->callers_next = (e->callers_next + 1) % KS_NCALLERS;
	if (e->ncallers < KS_NCALLERS)
		e->ncallers++;
out:
	WRITE_ONCE(e->last_caller, key);
	raw_spin_unlock_irqrestore(&e->callers_lock, flags);
}

NOKPROBE_SYMBOL(ks_note_caller);

static int ks_pre_handler(struct kprobe *kp, struct pt_regs *regs)
{
	struct ks_entry *e = container_of(kp, struct ks_entry, kp);
	int mode = atomic_read_acquire(&e->mode);

	if (!ks_filters_hold(e, regs)) {
		this_cpu_inc(*e->passed);
		return 0;
	}
	this_cpu_inc(*e->hits);
	if (mode != KS_ENGAGED) {
		u64 key = ks_caller_key();

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
			n += scnprintf(buf + n, len - n, "%sarg%u%s=%ld",
				       i ? "," : "", f->arg,
				       f->negate ? "!" : "", f->value);
	}
}

static void ks_free(struct ks_entry *e)
{
	free_percpu(e->hits);
	free_percpu(e->passed);
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
	e->hits = alloc_percpu(unsigned long);
	e->passed = alloc_percpu(unsigned long);
	if (!e->hits || !e->passed) {
		ks_free(e);
		return NULL;
	}
	strscpy(e->sym, req->sym, sizeof(e->sym));
	e->kp.symbol_name = e->sym;
	e->kp.pre_handler = ks_pre_handler;
	e->kp.post_handler = ks_post_handler;
	atomic_long_set(&e->retval, req->retval);
	e->nfilters = req->nfilters;
	memcpy(e->filters, req->filters, sizeof(e->filters));
	raw_spin_lock_init(&e->callers_lock);
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

/*
 * Install a new engagement: engage, tryengage (probe window first) or
 * observe.  Engaging a symbol that is only observed converts it in place,
 * so there is no moment without the probe.
 */
int ks_install(const struct ks_request *req, const struct ks_actor *who)
{
	enum ks_mode mode = KS_ENGAGED;
	char filters[128];
	struct ks_entry *e;
	int err;

	if (req->verb == KS_VERB_OBSERVE)
		mode = KS_OBSERVING;
	else if (req->verb == KS_VERB_TRYENGAGE && req->timeout)
		mode = KS_PROBING;

	mutex_lock(&ks_lock);
	e = ks_lookup(req->sym);
	if (e) {
		err = -EBUSY;
		if (req->verb == KS_VERB_ENGAGE &&
		    atomic_read(&e->mode) == KS_OBSERVING) {
			atomic_long_set(&e->retval, req->retval);
			e->nfilters = req->nfilters;
			memcpy(e->filters, req->filters, sizeof(e->filters));
			e->actor = *who;
			atomic_set_release(&e->mode, KS_ENGAGED);
			ks_format_filters(e, filters, sizeof(filters));
			ks_audit(who, "engage %s retval=%ld%s%s from observe hits=%lu",
				 e->sym, req->retval, *filters ? " filter=" : "",
				 filters, ks_sum(e->hits));
			err = 0;
		} else {
			ks_audit(who, "%s %s refused: already %s",
				 req->verb == KS_VERB_OBSERVE ? "observe" : "engage",
				 req->sym, ks_mode_name(atomic_read(&e->mode)));
		}
		goto unlock;
	}

	err = -ENOMEM;
	e = ks_alloc(req, who);
	if (!e)
		goto unlock;
	atomic_set(&e->mode, mode);
	e->since = ktime_get_boottime_seconds();
	if (mode == KS_PROBING) {
		e->timeout = req->timeout;
		e->deadline = jiffies + (unsigned long)req->timeout * HZ;
	}

	err = register_kprobe(&e->kp);
	if (err) {
		ks_audit(who, "engage %s refused: register_kprobe: %d (%s)",
			 req->sym, err, ks_register_reason(err));
		ks_free(e);
		goto unlock;
	}
	err = ks_fs_add(e);
	if (err) {
		unregister_kprobe(&e->kp);
		ks_free(e);
		goto unlock;
	}
	list_add_tail(&e->list, &ks_entries);
	if (mode == KS_PROBING)
		queue_delayed_work(ks_wq, &e->probe_work,
				   (unsigned long)req->timeout * HZ);

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
			 ks_sum(e->hits), e->kp.nmissed,
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
	hits = ks_sum(e->hits);
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
		 e->sym, ks_sum(e->hits), atomic_long_read(&e->retval),
		 e->timeout);
	ks_free(e);
}

/*
 * Kprobes take no reference on the target's module, so it may unload
 * while engaged.  Run before the kprobe layer's own notifier (priority 0)
 * to remove our probes while the text is still there, and say so: the
 * host is exposed again if the module comes back.
 */
static int ks_module_notify(struct notifier_block *nb, unsigned long action,
			    void *data)
{
	struct module *mod = data;
	struct ks_entry *e, *tmp;
	struct ks_actor who;
	char why[MODULE_NAME_LEN + 48];
	LIST_HEAD(gone);

	if (action != MODULE_STATE_GOING)
		return NOTIFY_DONE;

	mutex_lock(&ks_lock);
	list_for_each_entry_safe(e, tmp, &ks_entries, list) {
		if (!within_module((unsigned long)e->kp.addr, mod))
			continue;
		ks_detach(e);
		list_add_tail(&e->list, &gone);
	}
	mutex_unlock(&ks_lock);

	ks_actor_current(&who);
	snprintf(why, sizeof(why), "mitigation lost: module %s unloading: ",
		 mod->name);
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
 * Unload: no file can be open (each holds a module reference), so only
 * the probe windows and the module notifier can still run.  Cancel the
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
}
