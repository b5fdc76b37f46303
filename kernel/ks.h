/* SPDX-License-Identifier: GPL-2.0 */
/*
 * killswitch: declarations shared by the module's files.
 *
 * An engagement (struct ks_entry) is one kprobe at a function's entry
 * whose pre-handler either lets the call run (probing, observing) or
 * makes the function return a chosen value without running its body
 * (engaged).  Everything the handler reads is lock-free; everything else
 * is serialised by ks_lock.
 */
#ifndef _KS_H
#define _KS_H

#include <linux/atomic.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "ks_compat.h"

#define KS_MAX_FILTERS		6
#define KS_MAX_ARG		6
#define KS_MAX_PROBE_SECS	86400
#define KS_NCALLERS		16
#define KS_NFILES		10	/* files in fn/<sym>/ */
/* Six filters at their longest: "arg6:32!=-9223372036854775808" each. */
#define KS_FILTER_TEXT		256
/* Longest control write: engagebpf, a symbol and a path. */
#define KS_CMD_MAX		(KSYM_NAME_LEN + PATH_MAX + 32)

enum ks_mode {
	KS_PROBING,	/* tryengage window: count matching calls, let them run */
	KS_ENGAGED,	/* override matching calls */
	KS_OBSERVING,	/* count and record callers, never override */
};

enum ks_verb {
	KS_VERB_ENGAGE,
	KS_VERB_TRYENGAGE,
	KS_VERB_OBSERVE,
	KS_VERB_ENGAGEBPF,
	KS_VERB_DISENGAGE,
	KS_VERB_DISENGAGE_ALL,
};

/* Where a call came from; the handler counts each separately. */
enum ks_context {
	KS_CTX_TASK,
	KS_CTX_SOFTIRQ,
	KS_CTX_HARDIRQ,
	KS_CTX_NMI,
	KS_NCTX,
};

enum ks_filter_kind {
	KS_FILTER_UID,
	KS_FILTER_ARG,
};

/* One caller filter; all of an entry's filters must hold to override. */
struct ks_filter {
	u8 kind;
	u8 negate;
	u8 arg;			/* 1..KS_MAX_ARG for KS_FILTER_ARG */
	u8 width;		/* bits compared: 64, or 32 for an int argument */
	long value;
};

/* Who asked: captured when the write arrives, used for deferred log lines. */
struct ks_actor {
	uid_t uid;
	uid_t auid;
	unsigned int ses;
	char comm[TASK_COMM_LEN];
	bool modparam;
};

/*
 * A caller slot, written lock-free from task context: seq is odd while a
 * writer fills it, 0 while it was never written.  A reader that sees it
 * change while copying skips the slot.
 */
struct ks_caller {
	atomic_t seq;
	pid_t pid;
	uid_t uid;
	char comm[TASK_COMM_LEN];	/* sanitised when recorded */
};

/* Per-CPU counters of one engagement. */
struct ks_pcpu {
	unsigned long hits;		/* calls the filters selected */
	unsigned long passed;		/* calls the filters let through */
	unsigned long ctx[KS_NCTX];	/* hits by context */
};

/* A parsed control line.  Strings point into the caller's buffer. */
struct ks_request {
	enum ks_verb verb;
	const char *sym;
	const char *path;
	long retval;
	unsigned int timeout;
	unsigned int nfilters;
	struct ks_filter filters[KS_MAX_FILTERS];
};

struct ks_entry {
	struct list_head list;		/* on ks_entries, under ks_lock */
	struct kprobe kp;
	char sym[KSYM_NAME_LEN];

	/* Read by the handler without locks. */
	atomic_t mode;
	atomic_long_t retval;
	unsigned int nfilters;
	struct ks_filter filters[KS_MAX_FILTERS];
	struct ks_pcpu __percpu *pcpu;

	u64 last_caller;		/* pid << 32 | uid, last one recorded */
	atomic_t callers_next;
	struct ks_caller callers[KS_NCALLERS];

	/* Under ks_lock. */
	bool dead;
	unsigned long deadline;		/* jiffies; end of the probe window */
	unsigned int timeout;		/* probe window asked for, seconds */
	time64_t since;			/* boot-time seconds when installed */
	struct ks_actor actor;		/* who installed it */
	char where[KSYM_SYMBOL_LEN];	/* %pS of the probe, for log lines */
	char func[KSYM_NAME_LEN];	/* the function the probe is on, by address */
	struct delayed_work probe_work;
	struct dentry *dir;
	struct dentry *files[KS_NFILES];
};

extern struct mutex ks_lock;
extern struct list_head ks_entries;

/* ks_core.c: the mechanism */
int ks_install(const struct ks_request *req, const struct ks_actor *who);
int ks_disengage(const char *sym, const struct ks_actor *who);
int ks_target_vet(const char *sym, const struct ks_actor *who);
int ks_disengage_all(const struct ks_actor *who);
void ks_set_retval(struct ks_entry *e, long retval, const struct ks_actor *who);
struct ks_entry *ks_lookup(const char *sym);
unsigned long ks_sum(unsigned long __percpu *counter);
unsigned long ks_hits(const struct ks_entry *e);
unsigned long ks_passed(const struct ks_entry *e);
unsigned long ks_calls_in(const struct ks_entry *e, enum ks_context ctx);
const char *ks_mode_name(int mode);
void ks_format_filters(const struct ks_entry *e, char *buf, size_t len);
int ks_core_init(void);
void ks_core_exit(void);

/* ks_control.c: parsing and permission checks */
int ks_parse_request(char *line, struct ks_request *req);
int ks_parse_long(const char *s, long *out);
bool ks_valid_sym(const char *s);
int ks_execute(const struct ks_request *req, const struct ks_actor *who);
int ks_may_change(const char *what, const char *sym, const struct ks_actor *who);
void ks_actor_current(struct ks_actor *who);
void ks_sanitize(char *s);
/* One KERN_WARNING line: the message, then who asked. */
__printf(2, 3)
void ks_audit(const struct ks_actor *who, const char *fmt, ...);

/* ks_fs.c: the securityfs tree */
int ks_fs_init(void);
void ks_fs_hide(void);
void ks_fs_exit(void);
int ks_fs_add(struct ks_entry *e, bool private);
void ks_fs_set_private(struct ks_entry *e, bool private);
void ks_fs_remove(struct ks_entry *e);

/* ks_target.c: what may be a target */
int ks_target_prepare(struct kprobe *kp, char *sym, const char *verb,
		      const struct ks_actor *who);
int ks_target_check(struct kprobe *kp, const char *sym,
		    const struct ks_actor *who);
int ks_target_override_ok(const char *sym, const struct ks_actor *who);
void ks_target_symbols_changed(void);
void ks_target_exit(void);

/* ks_guard.c: guard rails */
extern bool ks_guard;
bool ks_guard_on(void);
int ks_guard_check(const char *sym, long retval, const struct ks_actor *who);
int ks_guard_entry(const struct ks_entry *e, long retval,
		   const struct ks_actor *who);

/* ks_modparam.c: engage= at load */
void ks_modparam_apply(void);

/* ks_bpf.c: the engagebpf gate */
int ks_engagebpf(const char *sym, const char *path, const struct ks_actor *who);

/* arch/<arch>/error_inject.c */
void ks_override_function_with_return(struct pt_regs *regs);
/* The probe sits on a real function entry (x86: its ftrace site). */
bool ks_arch_function_entry(const struct kprobe *kp);

#endif /* _KS_H */
