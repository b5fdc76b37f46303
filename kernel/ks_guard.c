// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: guard rails.
 *
 * The main objection to a killswitch is that it can switch off a
 * security check.  Each rule names a class of functions by a glob and
 * says which retvals fail closed for it: a negative errno for int checks
 * (0 allows), 0 for yes/no checks (true allows), none at all for what the
 * kernel, this module, or lockdown and Secure Boot rest on, and none for
 * a check whose name does not tell whether it returns an errno or a yes.
 * Values are judged at every width a caller may read, so no truncation
 * of the 64-bit retval turns a refusal into "allowed".
 *
 * The rules live in kernel/guard.rails; ks_guard_rails.h is generated
 * from it, as is internal/preflight's copy.  guard=0 at load turns them
 * off, except under lockdown, where root is not trusted to.
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/err.h>
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/security.h>
#include <linux/string.h>

#include "ks.h"

bool ks_guard = true;
module_param_named(guard, ks_guard, bool, 0444);
MODULE_PARM_DESC(guard, "refuse fail-open overrides of security checks and hazardous targets (default 1; ignored under lockdown)");

enum ks_rail_class {
	KS_RAIL_HAZARD,		/* the kernel or killswitch depends on it */
	KS_RAIL_INTEGRITY,	/* what lockdown and Secure Boot rest on */
	KS_RAIL_ERRNO,		/* int check, 0 allows: -MAX_ERRNO..-1 only */
	KS_RAIL_YESNO,		/* yes/no check, nonzero allows: 0 only */
	KS_RAIL_EITHER,		/* errno or yes/no, unknown: nothing */
};

struct ks_rail {
	const char *pattern;
	enum ks_rail_class class;
	const char *what;	/* for log lines: "an allocator" */
};

#include "ks_guard_rails.h"

/*
 * A refusal changes nothing, and a script that probes the rules can
 * refuse thousands of names: keep the kernel log readable.  Only guard
 * refusals are rate-limited; every change still logs its line.
 */
static DEFINE_RATELIMIT_STATE(ks_guard_rs, 5 * HZ, 10);

/* '*' matches any run of characters, none included; nothing else is special. */
static bool ks_glob(const char *pat, const char *name)
{
	const char *star = NULL, *resume = NULL;

	while (*name) {
		if (*pat == '*') {
			star = ++pat;
			resume = name;
		} else if (*pat == *name) {
			pat++;
			name++;
		} else if (star) {
			pat = star;
			name = ++resume;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return !*pat;
}

/* The first rule that matches decides, as in kernel/guard.rails. */
static const struct ks_rail *ks_rail_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ks_rails); i++)
		if (ks_glob(ks_rails[i].pattern, name))
			return &ks_rails[i];
	return NULL;
}

/*
 * Callers of an int function read the low 32 bits, of a bool the low 8:
 * -4294967296 is 0 ("allowed") to an int caller, 256 is false and -1 true
 * to a bool one.  An errno is accepted only if it is one at 64 and at 32
 * bits (-MAX_ERRNO..-1 on the full value implies both); a yes/no check
 * only denies at every width with exactly 0.
 */
static bool ks_rail_accepts(enum ks_rail_class class, long retval)
{
	switch (class) {
	case KS_RAIL_ERRNO:
		return retval >= -MAX_ERRNO && retval <= -1;
	case KS_RAIL_YESNO:
		return retval == 0;
	default:
		return false;
	}
}

/* "mod:name.constprop.0" -> "name" */
static void ks_base_name(const char *sym, char *buf, size_t len)
{
	const char *colon = strchr(sym, ':');

	strscpy(buf, colon ? colon + 1 : sym, len);
	buf[strcspn(buf, ".@")] = '\0';
}

/*
 * Whether the guard rails apply.  guard=0 is honoured only while the
 * kernel is not locked down: ask lockdown only then, since each denied
 * query logs a lockdown line, and only until it says yes, since lockdown
 * cannot be lowered.
 */
bool ks_guard_on(void)
{
	static bool locked;

	if (ks_guard || READ_ONCE(locked))
		return true;
	if (!security_locked_down(LOCKDOWN_DBG_WRITE_KERNEL))
		return false;
	WRITE_ONCE(locked, true);
	pr_warn_once("guard=0 ignored: the kernel is locked down, and under lockdown root may not switch the guard rails off; they apply (boot without lockdown to use guard=0)\n");
	return true;
}

static void ks_guard_refuse(const char *sym, long retval,
			    const struct ks_rail *r, const struct ks_actor *who)
{
	if (!__ratelimit(&ks_guard_rs))
		return;
	switch (r->class) {
	case KS_RAIL_HAZARD:
		ks_audit(who,
			 "engage %s refused: the kernel or killswitch itself depends on it (%s, guard rule %s); load with guard=0 to override",
			 sym, r->what, r->pattern);
		break;
	case KS_RAIL_INTEGRITY:
		ks_audit(who,
			 "engage %s refused: lockdown and Secure Boot rest on it (%s, guard rule %s) and no retval is safe; load with guard=0 to override, never possible under lockdown",
			 sym, r->what, r->pattern);
		break;
	case KS_RAIL_ERRNO:
		ks_audit(who,
			 "engage %s refused: retval=%ld would make a security check pass without running (%s, guard rule %s); only a negative errno, -4095 to -1, fails closed; load with guard=0 to override",
			 sym, retval, r->what, r->pattern);
		break;
	case KS_RAIL_YESNO:
		ks_audit(who,
			 "engage %s refused: retval=%ld can read as \"true\" for this yes/no security check (%s, guard rule %s) and grant without checking; only 0 (deny) fails closed; load with guard=0 to override",
			 sym, retval, r->what, r->pattern);
		break;
	case KS_RAIL_EITHER:
		ks_audit(who,
			 "engage %s refused: it is %s (guard rule %s), whose kind returns an errno in some functions and a yes/no in others, and no retval fails closed for both; load with guard=0 to override",
			 sym, r->what, r->pattern);
		break;
	}
}

int ks_guard_check(const char *sym, long retval, const struct ks_actor *who)
{
	char name[KSYM_NAME_LEN];
	const struct ks_rail *r;

	if (!ks_guard_on())
		return 0;
	ks_base_name(sym, name, sizeof(name));
	r = ks_rail_find(name);
	if (!r || ks_rail_accepts(r->class, retval))
		return 0;
	ks_guard_refuse(sym, retval, r, who);
	return -EACCES;
}

/*
 * The rails judge names, and a function may have several (an alias, a
 * qualified form): judge the one kallsyms gives the probed address too.
 */
int ks_guard_entry(const struct ks_entry *e, long retval,
		   const struct ks_actor *who)
{
	char typed[KSYM_NAME_LEN];

	ks_base_name(e->sym, typed, sizeof(typed));
	if (!*e->func || !strcmp(typed, e->func))
		return 0;
	return ks_guard_check(e->func, retval, who);
}
