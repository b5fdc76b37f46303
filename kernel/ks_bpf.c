// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: engagebpf, a BPF override past the error-injection list.
 *
 * bpf_override_return() may only attach to functions the kernel lists as
 * error-injectable, and the check is within_error_injection_list().  For
 * as long as the helper (/usr/sbin/ks-bpf-load) runs, a probe on that
 * check answers "yes" to the helper's own process and to nobody else;
 * the helper loads the program, attaches it and pins the link, which is
 * what keeps the override alive afterwards.  The probe comes off on every
 * path before the write returns.
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/kprobes.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/umh.h>

#include "ks.h"

#define KS_BPF_HELPER	"/usr/sbin/ks-bpf-load"
#define KS_GATE_SYM	"within_error_injection_list"

#if IS_ENABLED(CONFIG_FUNCTION_ERROR_INJECTION) && \
	IS_ENABLED(CONFIG_BPF_KPROBE_OVERRIDE)

static DEFINE_MUTEX(ks_gate_lock);
/* The helper's thread group while the gate is open, else 0 (never a user task). */
static pid_t ks_gate_tgid;

static int ks_gate_pre(struct kprobe *kp, struct pt_regs *regs)
{
	pid_t tgid = READ_ONCE(ks_gate_tgid);

	if (!tgid || current->tgid != tgid)
		return 0;
	regs_set_return_value(regs, 1);
	ks_override_function_with_return(regs);
	return 1;
}

NOKPROBE_SYMBOL(ks_gate_pre);

/* See ks_post_handler(): a post-handler keeps the probe unoptimised. */
static void ks_gate_post(struct kprobe *kp, struct pt_regs *regs,
			 unsigned long flags)
{
}

NOKPROBE_SYMBOL(ks_gate_post);

/*
 * One helper run.  argv and envp live on the heap and are freed by the
 * cleanup callback, as kmod.c does for modprobe; the writer waits for the
 * helper without UMH_KILLABLE, so both callbacks (module text) have run
 * before the write returns and nothing of the run outlives the module or
 * the gate it was started for.  The helper bounds its own run time.
 */
struct ks_helper {
	char *argv[4];
	char *envp[3];
};

/* Runs in the new task before exec: its tgid is the helper's. */
static int ks_helper_init(struct subprocess_info *info, struct cred *new)
{
	WRITE_ONCE(ks_gate_tgid, current->tgid);
	return 0;
}

static void ks_helper_free(struct ks_helper *h)
{
	int i;

	for (i = 0; h->argv[i]; i++)
		kfree(h->argv[i]);
	kfree(h);
}

static void ks_helper_cleanup(struct subprocess_info *info)
{
	ks_helper_free(info->data);
}

static int ks_run_helper(const char *sym, const char *path)
{
	struct subprocess_info *info;
	struct ks_helper *h;

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	h->argv[0] = kstrdup(KS_BPF_HELPER, GFP_KERNEL);
	h->argv[1] = h->argv[0] ? kstrdup(path, GFP_KERNEL) : NULL;
	h->argv[2] = h->argv[1] ? kstrdup(sym, GFP_KERNEL) : NULL;
	if (!h->argv[2]) {
		ks_helper_free(h);
		return -ENOMEM;
	}
	h->envp[0] = "HOME=/";
	h->envp[1] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

	info = call_usermodehelper_setup(h->argv[0], h->argv, h->envp,
					 GFP_KERNEL, ks_helper_init,
					 ks_helper_cleanup, h);
	if (!info) {
		ks_helper_free(h);
		return -ENOMEM;
	}
	return call_usermodehelper_exec(info, UMH_WAIT_PROC);
}

int ks_engagebpf(const char *sym, const char *path, const struct ks_actor *who)
{
	struct kprobe gate = {
		.symbol_name = KS_GATE_SYM,
		.pre_handler = ks_gate_pre,
		.post_handler = ks_gate_post,
	};
	bool taken;
	int err, ret;

	/* An operator's own engagement of the check is theirs: leave it. */
	mutex_lock(&ks_lock);
	taken = ks_lookup(KS_GATE_SYM);
	mutex_unlock(&ks_lock);
	if (taken) {
		ks_audit(who,
			 "engagebpf %s refused: %s is engaged by the operator; disengage it first",
			 sym, KS_GATE_SYM);
		return -EBUSY;
	}
	err = ks_target_vet(sym, who);
	if (err)
		return err;

	if (mutex_lock_killable(&ks_gate_lock))
		return -EINTR;
	WRITE_ONCE(ks_gate_tgid, 0);
	err = register_kprobe(&gate);
	if (err) {
		mutex_unlock(&ks_gate_lock);
		ks_audit(who,
			 "engagebpf %s refused: cannot open the gate on %s: register_kprobe: %d",
			 sym, KS_GATE_SYM, err);
		return err == -EBUSY ? -EBUSY : -EIO;
	}
	ks_audit(who, "engagebpf %s bpf=%s",
		 sym, path);
	ret = ks_run_helper(sym, path);
	WRITE_ONCE(ks_gate_tgid, 0);
	unregister_kprobe(&gate);
	mutex_unlock(&ks_gate_lock);

	if (ret) {
		ks_audit(who,
			 "engagebpf %s failed: %s returned %d (its reason is logged above by ks-bpf-load)",
			 sym, KS_BPF_HELPER, ret);
		return -EIO;
	}
	ks_audit(who,
		 "engagebpf %s loaded: pinned at /sys/fs/bpf/killswitch/%s; remove the pin to disengage",
		 sym, sym);
	return 0;
}

#else

int ks_engagebpf(const char *sym, const char *path, const struct ks_actor *who)
{
	ks_audit(who,
		 "engagebpf %s refused: this kernel lacks CONFIG_FUNCTION_ERROR_INJECTION and CONFIG_BPF_KPROBE_OVERRIDE, so bpf_override_return cannot work; use a native caller filter instead, e.g. engage %s <retval> uid!=0",
		 sym, sym);
	return -EOPNOTSUPP;
}

#endif
