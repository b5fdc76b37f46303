// SPDX-License-Identifier: GPL-2.0
/*
 * killswitch: make a chosen kernel function return a fixed value without
 * running its body, as an emergency mitigation for a kernel CVE until a
 * fixed kernel is booted.
 *
 *   echo "engage af_alg_sendmsg -1" > /sys/kernel/security/killswitch/control
 *
 * This is the out-of-tree variant of the upstream proposal.  It differs
 * from the in-tree one only where a stock kernel leaves no choice:
 *
 *  - taint: TAINT_OOT_MODULE ('O', set by the module loader) instead of a
 *    dedicated TAINT_KILLSWITCH ('H'), which needs a kernel change;
 *  - lockdown: no LOCKDOWN_KILLSWITCH reason exists; runtime changes ask
 *    with LOCKDOWN_DBG_WRITE_KERNEL (integrity), observe with
 *    LOCKDOWN_KPROBES (confidentiality), and we log our own refusal line.
 *    Unlike the seed, engage= under lockdown=integrity accepts only the
 *    reviewed allowlist built into the module: root under lockdown is not
 *    trusted, and module_sig_check=0 would otherwise defeat it;
 *  - override_function_with_return() is not exported, so each arch ships
 *    ks_override_function_with_return() in arch/<arch>/;
 *  - boot-time engagement is the engage= module parameter, not a
 *    killswitch= kernel command-line option;
 *  - no KUnit suite: selftests/ and the VM suites cover the same ground.
 *
 * Beyond the proposal: caller filters, observe, guard rails, tryengage
 * logging, per-function passed/missed/since/callers, and engagebpf's gate
 * scoped to the helper's process.
 *
 * Files: ks_core.c (mechanism), ks_target.c (what may be a target),
 * ks_control.c (grammar, lockdown), ks_fs.c (securityfs), ks_guard.c
 * (guard rails), ks_modparam.c (engage=), ks_bpf.c (engagebpf gate),
 * arch/ (override stubs), ks_compat.h (kernel version differences).
 */
#define pr_fmt(fmt) "killswitch: " fmt

#include <linux/init.h>
#include <linux/module.h>

#include "ks.h"

static int __init ks_init(void)
{
	int err;

	err = ks_core_init();
	if (err)
		return err;
	err = ks_fs_init();
	if (err) {
		ks_core_exit();
		return err;
	}
	pr_warn("loaded: /sys/kernel/security/killswitch/ ready, kernel tainted (O)%s\n",
		ks_guard_on() ? "" : ", guard rails OFF (guard=0)");
	ks_modparam_apply();
	return 0;
}

static void __exit ks_exit(void)
{
	ks_fs_hide();
	ks_core_exit();
	ks_fs_exit();
	pr_warn("unloaded: every engagement removed\n");
}

module_init(ks_init);
module_exit(ks_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("killswitch developers");
MODULE_DESCRIPTION("Per-function short-circuit mitigation for kernel CVEs");
MODULE_VERSION("0.1");
