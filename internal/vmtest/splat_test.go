package vmtest

import (
	"reflect"
	"testing"
)

func TestScanSplats(t *testing.T) {
	kmsg := []string{
		"[    0.000000] Linux version 6.1.0-56-amd64",
		"[    5.100000] killswitch: engage af_alg_sendmsg retval=-1 uid=0 auid=4294967295 ses=4294967295 comm=sh",
		"[    5.200000] killswitch: tryengage af_alg_sendmsg aborted: hits=3",
		"[    6.000000] WARNING: CPU: 1 PID: 77 at kernel/kprobes.c:1234 arm_kprobe+0x10/0x20",
		"[    6.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008",
		"[    6.200000] Oops: 0002 [#1] PREEMPT SMP NOPTI",
		"[    7.000000] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
		"[    8.000000] WARNING: possible circular locking dependency detected",
		"[    9.000000] UBSAN: shift-out-of-bounds in kernel/foo.c:1:2",
		"[   10.000000] general protection fault, probably for non-canonical address",
		"[   11.000000] Kernel panic - not syncing: Fatal exception",
	}
	console := []string{
		"[    6.000000] WARNING: CPU: 1 PID: 77 at kernel/kprobes.c:1234 arm_kprobe+0x10/0x20\r", // same as kmsg
		"[   12.000000] BUG: soft lockup - CPU#0 stuck for 22s!",
		"ks-vminit: 3 passed, 0 failed",
	}
	want := append([]string{}, kmsg[3:]...)
	want = append(want, "[   12.000000] BUG: soft lockup - CPU#0 stuck for 22s!")
	if got := ScanSplats(kmsg, console); !reflect.DeepEqual(got, want) {
		t.Errorf("ScanSplats =\n%q\nwant\n%q", got, want)
	}
	debugBoot := []string{
		"[    0.000000] rcu: \tRCU lockdep checking is enabled.",
		`[    2.302936] rcu: \x09RCU lockdep checking is enabled.`, // as /dev/kmsg escapes it
		"[   52.799653] kmemleak: Kernel memory leak detector initialized (mem pool available: 14690)",
	}
	if got := ScanSplats(debugBoot); got != nil {
		t.Errorf("a debug kernel's boot banners were taken for splats: %q", got)
	}
	leak := "[  400.000000] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)"
	if got := ScanSplats([]string{leak}); len(got) != 1 {
		t.Errorf("a kmemleak report was not taken for a splat: %q", got)
	}
	if got := ScanSplats(kmsg[:3]); got != nil {
		t.Errorf("audit lines were taken for splats: %q", got)
	}
}

// TestSplatPatterns: one real line per kind of kernel report, each printed
// by the printk format named beside it (linux-source-6.1, and arm64's
// fault handler). Each must fail the run on its own.
func TestSplatPatterns(t *testing.T) {
	for _, tc := range []struct{ what, line string }{
		{"BUG() (lib/bug.c)", "[   12.000000] kernel BUG at mm/slub.c:435!"},
		{"x86 #UD die header (dumpstack.c __die_header)", "[   12.000001] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"},
		{"SLUB slab_bug()", "[   12.000002] BUG kmalloc-64 (Tainted: G           OE     ): Right Redzone overwritten"},
		{"SLUB slab_bug(), untainted", "[   12.000003] BUG kmalloc-128 (Not tainted): Poison overwritten"},
		{"x86 #GP (traps.c GPFSTR)", "[   12.000004] general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN NOPTI"},
		{"x86 page fault (fault.c)", "[   12.000005] BUG: unable to handle page fault for address: ffffffffc0201000"},
		{"arm64 page fault (fault.c)", "[   12.000006] Unable to handle kernel paging request at virtual address ffff800008e3d000"},
		{"hung task (hung_task.c)", "[  240.000000] INFO: task kworker/0:1:15 blocked for more than 120 seconds."},
		{"schedule in atomic (sched/core.c)", "[   12.000007] BUG: scheduling while atomic: insmod/123/0x00000002"},
		{"might_sleep (sched/core.c)", "[   12.000008] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580"},
		{"lockdep inconsistent state", "[   12.000009] WARNING: inconsistent lock state"},
		{"lockdep recursion", "[   12.000010] WARNING: possible recursive locking detected"},
		{"refcount_t (lib/refcount.c)", "[   12.000011] refcount_t: underflow; use-after-free."},
		{"list debug (lib/list_debug.c)", "[   12.000012] list_add corruption. prev->next should be next (ffff888003a1c0c8), but was 0000000000000000. (prev=ffff888003a1c0c8)."},
		{"list debug, del", "[   12.000013] list_del corruption, ffff888003a1c0c8->next is LIST_POISON1 (dead000000000100)"},
		{"UBSAN (lib/ubsan.c)", "[   12.000014] UBSAN: shift-out-of-bounds in kernel/killswitch/ks_core.c:120:9"},
		{"KFENCE (mm/kfence/report.c)", "[   12.000015] BUG: KFENCE: use-after-free read in ks_handler+0x10/0x20"},
		{"panic (kernel/panic.c)", "[   12.000016] Kernel panic - not syncing: Fatal exception"},
		{"oops", "[   12.000017] Oops: 0002 [#1] PREEMPT SMP NOPTI"},
		{"KASAN", "[   12.000018] BUG: KASAN: slab-out-of-bounds in ks_parse+0x4c/0x90"},
		{"kmemleak", "[  400.000000] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)"},
	} {
		if got := ScanSplats([]string{tc.line}); len(got) != 1 {
			t.Errorf("%s: %q not taken for a report", tc.what, tc.line)
		}
	}
	for _, fine := range []string{
		"[    5.000000] killswitch: refused engage kmalloc: on the hazard list (uid=0 auid=0 ses=1 comm=sh)",
		"[    5.000001] killswitch: disengage __x64_sys_getpriority retval=40 hits=3 uid=0 auid=0 ses=1 comm=sh",
		"[    0.500000] SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=2, Nodes=1",
		"[    0.600000] x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'",
	} {
		if got := ScanSplats([]string{fine}); got != nil {
			t.Errorf("taken for a report: %q", fine)
		}
	}
}

func TestScanLost(t *testing.T) {
	kmsg := []string{"[    1.000000] fine", "[kmsg: records lost: 10..99 (ring buffer overwritten before ks-vminit read them)]"}
	console := []string{"[    9.000000] ** 120 printk messages dropped **", "[    9.100000] fine"}
	if got := ScanLost(kmsg, console); len(got) != 2 {
		t.Errorf("ScanLost = %q, want both the kmsg gap and the console's drop", got)
	}
	forgiven := "[kmsg: records 10..99 overwritten before ks-vminit read them; a suite read all of 5..200]"
	if got := ScanLost([]string{forgiven}); got != nil {
		t.Errorf("ScanLost took a gap a suite proved it read: %q", got)
	}
	if got := ScanLost([]string{"[    1.000000] killswitch: hits=3"}); got != nil {
		t.Errorf("ScanLost took an ordinary line: %q", got)
	}
}
