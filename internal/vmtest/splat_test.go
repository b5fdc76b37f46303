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
