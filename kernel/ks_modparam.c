// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: engage=fn1=v1,fn2=v2,... at module load.
 *
 * Modules cannot take __setup() boot parameters, so boot-time mitigation
 * goes through modprobe.d.  A bad entry is named in the log and skipped;
 * its neighbours still engage, and the load never fails because of it.
 * Under lockdown=integrity this is the supported way to engage; under
 * confidentiality it is refused too.
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/moduleparam.h>
#include <linux/security.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ks.h"

static char *ks_engage_param;
module_param_named(engage, ks_engage_param, charp, 0400);
MODULE_PARM_DESC(engage, "engage at load: fn1=retval1,fn2=retval2,...");

static void ks_modparam_entry(char *item, const struct ks_actor *who)
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

	if (!ks_engage_param || !*ks_engage_param)
		return;
	ks_actor_current(&who);
	who.modparam = true;

	/*
	 * LOCKDOWN_KPROBES is a confidentiality reason: allowed under
	 * integrity (the seed's table), refused under confidentiality.
	 */
	if (security_locked_down(LOCKDOWN_KPROBES)) {
		ks_audit(&who,
			 "engage=%s refused: kernel is locked down for confidentiality; nothing engaged",
			 ks_engage_param);
		return;
	}
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
		ks_modparam_entry(item, &who);
	}
	kfree(buf);
}
