/* SPDX-License-Identifier: GPL-2.0 */
/* test_killswitch: the targets, declared for both of the module's files. */
#ifndef _TEST_KILLSWITCH_H
#define _TEST_KILLSWITCH_H

#include <linux/types.h>

struct dentry;

long ks_test_vuln(long arg);
void ks_test_void(void);
void *ks_test_ptr(void);
bool ks_test_bool(void);
long ks_test_dup_other(void);
int ks_test_bench(int arg);
void ks_test_bench_init(struct dentry *dir);
void ks_test_bench_exit(void);

#endif /* _TEST_KILLSWITCH_H */
