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
	if got := ScanSplats(kmsg[:3]); got != nil {
		t.Errorf("audit lines were taken for splats: %q", got)
	}
}
