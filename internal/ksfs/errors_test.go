package ksfs

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		op       string
		errno    syscall.Errno
		log      []string
		lockdown Lockdown
		kind     error
		says     string
	}{
		{"engage", syscall.EINVAL, nil, LockdownNone, ErrMalformed, "malformed"},
		{"engage", syscall.EINVAL, []string{"killswitch: engage f refused: register_kprobe: -22 (not probeable)"}, LockdownNone, ErrProbeRefused, "blacklisted"},
		{"engage", syscall.EBUSY, []string{"killswitch: engage f refused: register_kprobe: -16"}, LockdownNone, ErrProbeRefused, "livepatch"},
		{"engage", syscall.EBUSY, nil, LockdownNone, ErrAlreadyEngaged, "already engaged"},
		{"engagebpf", syscall.EBUSY, nil, LockdownNone, ErrAlreadyEngaged, "within_error_injection_list"},
		{"engage", syscall.ENOENT, nil, LockdownNone, ErrUnknownSymbol, "no such symbol"},
		{"disengage", syscall.ENOENT, nil, LockdownNone, ErrNotEngaged, "not engaged"},
		{"retval", syscall.ENOENT, nil, LockdownNone, ErrNotEngaged, "not engaged"},
		{"engage", syscall.EPERM, nil, LockdownNone, ErrNotPermitted, "CAP_SYS_ADMIN"},
		{"disengage", syscall.EPERM, nil, LockdownIntegrity, ErrNotPermitted, "CAP_SYS_ADMIN"},
		{"retval", syscall.EPERM, nil, LockdownIntegrity, ErrLockdown, "engage= module parameter"},
		{"engage", syscall.EPERM, nil, LockdownConfidentiality, ErrLockdown, "boot with a lower lockdown level"},
		{"engage", syscall.EACCES, nil, LockdownNone, ErrGuarded, "guard=0"},
		{"engagebpf", syscall.EIO, []string{"ks-bpf-load: f: attach: EINVAL", "killswitch: engagebpf f failed: (its reason is logged above by ks-bpf-load)"}, LockdownNone, ErrHelperFailed, "ks-bpf-load failed: ks-bpf-load: f: attach: EINVAL"},
		{"engagebpf", syscall.EIO, nil, LockdownNone, ErrHelperFailed, "dmesg | grep ks-bpf-load"},
		{"engagebpf", syscall.EOPNOTSUPP, nil, LockdownNone, ErrUnsupported, "engage f -1 uid!=0"},
		{"engage", syscall.ENODEV, nil, LockdownNone, ErrProbeRefused, "kprobes/enabled"},
		{"engage", syscall.ENOMEM, nil, LockdownNone, nil, "cannot allocate memory"},
	} {
		e := &CommandError{Op: tc.op, Symbol: "f", Errno: tc.errno, KernelLog: tc.log}
		e.explain(tc.lockdown)
		if tc.kind != nil && !errors.Is(e, tc.kind) {
			t.Errorf("%s %v: kind %v, want %v", tc.op, tc.errno, e.Kind, tc.kind)
		}
		if !errors.Is(e, tc.errno) {
			t.Errorf("%s %v: errno not wrapped", tc.op, tc.errno)
		}
		if !strings.Contains(e.Error(), tc.says) {
			t.Errorf("%s %v: %q does not say %q", tc.op, tc.errno, e.Error(), tc.says)
		}
	}
}
