// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: engage=fn1=v1,fn2=v2,... at module load.
 *
 * Modules cannot take __setup() boot parameters, so boot-time mitigation
 * goes through modprobe.d.  A bad entry is named in the log and skipped;
 * its neighbours still engage, and the load never fails because of it.
 *
 * Under lockdown root is not trusted to change what the kernel runs, and
 * a modprobe is no earlier than any other write: "the LSM is not yet
 * armed" holds for no modprobe after boot.  So under lockdown=integrity
 * engage= accepts only the reviewed (symbol, retval) pairs built into
 * this (signed) module, ks_allowlist.h, generated from the catalog;
 * anything else, e.g. module_sig_check=0, is refused with a log line.
 * Under lockdown=confidentiality it engages nothing.
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/moduleparam.h>
#include <linux/security.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ks.h"
#include "ks_allowlist.h"

static char *ks_engage_param;
module_param_named(engage, ks_engage_param, charp, 0400);
MODULE_PARM_DESC(engage, "engage at load: fn1=retval1,fn2=retval2,...");

static bool ks_allowlisted(const char *sym, long retval)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ks_allowlist); i++)
		if (!strcmp(ks_allowlist[i].sym, sym) &&
		    ks_allowlist[i].retval == retval)
			return true;
	return false;
}

static void ks_modparam_entry(char *item, const struct ks_actor *who,
			      bool locked)
{
	struct ks_request req = { .verb = KS_VERB_ENGAGE };
	char *eq = strrchr(item, '=');
	int err;

	if (!eq || eq == item) {
		pr_warn("engage= entry '%s' skipped: expected <symbol>=<retval>\n",
			item);
		return;
	}
	*eq = '\0';
	if (ks_parse_long(eq + 1, &req.retval)) {
		pr_warn("engage= entry '%s=%s' skipped: retval is not a decimal or 0x-hex number\n",
			item, eq + 1);
		return;
	}
	if (!ks_valid_sym(item)) {
		pr_warn("engage= entry '%s' skipped: not a symbol name\n", item);
		return;
	}
	if (locked && !ks_allowlisted(item, req.retval)) {
		ks_audit(who,
			 "engage= entry '%s=%ld' refused: the kernel is locked down and this pair is not in the reviewed allowlist built into the module (killswitch mitigations lists it); under lockdown root may not choose what the kernel skips",
			 item, req.retval);
		return;
	}
	req.sym = item;
	err = ks_guard_check(req.sym, req.retval, who);
	if (!err)
		err = ks_install(&req, who);
	if (err)
		pr_warn("engage= entry '%s' skipped: error %d (see the line above)\n",
			item, err);
}

void ks_modparam_apply(void)
{
	struct ks_actor who;
	char *buf, *p, *item;
	bool locked;

	if (!ks_engage_param || !*ks_engage_param)
		return;
	ks_actor_current(&who);
	who.modparam = true;

	/* LOCKDOWN_KPROBES is denied under confidentiality only. */
	if (security_locked_down(LOCKDOWN_KPROBES)) {
		ks_audit(&who,
			 "engage=%s refused: kernel is locked down for confidentiality; nothing engaged",
			 ks_engage_param);
		return;
	}
	locked = security_locked_down(LOCKDOWN_DBG_WRITE_KERNEL);
	buf = kstrdup(ks_engage_param, GFP_KERNEL);
	if (!buf)
		return;
	p = buf;
	while ((item = strsep(&p, ",")) != NULL) {
		item = strim(item);
		if (!*item) {
			pr_warn("engage= has an empty entry: skipped\n");
			continue;
		}
		ks_modparam_entry(item, &who, locked);
	}
	kfree(buf);
}
