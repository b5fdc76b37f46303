/* SPDX-License-Identifier: GPL-2.0 */
/*
 * killswitch: every difference between the kernel versions the module
 * builds against (5.10 to 7.x) lives here, so the logic files carry no
 * version checks.
 */
#ifndef _KS_COMPAT_H
#define _KS_COMPAT_H

#include <linux/preempt.h>
#include <linux/version.h>

/* in_hardirq() arrived in 5.11; in_irq() meant the same before. */
#ifndef in_hardirq
#define in_hardirq()	in_irq()
#endif

#endif /* _KS_COMPAT_H */
