// SPDX-License-Identifier: GPL-2.0
/*
 * test_killswitch: the second ks_test_dup(), so that the name has two
 * kallsyms entries and the CLI's ambiguity check has something to find.
 */
#include <linux/compiler.h>

#include "test_killswitch.h"

static noinline long ks_test_dup(void)
{
	return 2;
}

long ks_test_dup_other(void)
{
	return ks_test_dup();
}
