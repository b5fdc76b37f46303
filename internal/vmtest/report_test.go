package vmtest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

func feed(r *kernelReport, lines string) {
	for _, l := range strings.Split(strings.TrimPrefix(lines, "\n"), "\n") {
		if l != "" {
			r.handle(l)
		}
	}
}

const goodRun = `
# ks-vminit: suite 00-boot
ok - proc mounted
not ok - modprobe tls: modprobe: module tls not found
# diagnostics
ok 3 - numbered TAP line
# ks-vminit: suite 10-selftest
ok - engage
not ok - 10-selftest exited 1
# ks-vminit: kernel log begin
[    1.000000] ok - this is kernel log, not a result
[    2.000000] killswitch: engage x retval=-1 uid=0 auid=0 ses=1 comm=sh
# ks-vminit: kernel log end
3 passed, 2 failed
`

func TestKernelReport(t *testing.T) {
	tests := []struct {
		name       string
		lines      string
		outcome    vmOutcome
		console    []string
		want       vmproto.Tally
		wantOutput []string
	}{
		{"clean", goodRun, vmOutcome{Elapsed: time.Second}, nil,
			vmproto.Tally{Passed: 3, Failed: 2},
			[]string{"[k] ok - proc mounted", "[k] suite 10-selftest", "[k] 3 passed, 2 failed"}},
		{"timeout", "# ks-vminit: suite 00-boot\nok - a\n", vmOutcome{TimedOut: true, Elapsed: time.Minute}, nil,
			vmproto.Tally{Passed: 1, Failed: 1},
			[]string{"[k] not ok - timed out after 1m0s"}},
		{"crash", "ok - a\n", vmOutcome{}, []string{"[    3.000000] Kernel panic - not syncing: sysrq triggered crash"},
			vmproto.Tally{Passed: 1, Failed: 2},
			[]string{"[k] not ok - no summary from ks-vminit", "[k] # kernel: [    3.000000] Kernel panic"}},
		{"lost lines", strings.Replace(goodRun, "ok - engage\n", "", 1), vmOutcome{}, nil,
			vmproto.Tally{Passed: 2, Failed: 3},
			[]string{"ks-vminit counted 3 passed, 2 failed but the host saw 2 passed, 2 failed"}},
		{"splat in kmsg", strings.Replace(goodRun, "[    1.000000] ok", "[    1.000000] WARNING: CPU: 0 PID: 1 at x", 1), vmOutcome{}, nil,
			vmproto.Tally{Passed: 3, Failed: 3},
			[]string{"[k] not ok - kernel log reports a bug (1 lines)"}},
		{"silent guest", "# ks-vminit: suite 00-boot\nok - a\n", vmOutcome{Silent: true, Elapsed: 9 * time.Minute}, nil,
			vmproto.Tally{Passed: 1, Failed: 1},
			[]string{"[k] not ok - killed after 9m0s: the guest wrote nothing for 7m0s"}},
		{"no results", "# ks-vminit: kernel log begin\n# ks-vminit: kernel log end\n0 passed, 0 failed\n", vmOutcome{}, nil,
			vmproto.Tally{Failed: 1},
			[]string{"[k] not ok - the kernel reported no results"}},
		{"records lost", strings.Replace(goodRun, "[    1.000000] ok", "[kmsg: records lost: 0..41 (ring buffer overwritten before ks-vminit read them)]\n[    1.000000] ok", 1), vmOutcome{}, nil,
			vmproto.Tally{Passed: 3, Failed: 3},
			[]string{"[k] not ok - kernel log records were lost", "# kernel: [kmsg: records lost: 0..41"}},
		{"printk dropped on the console", goodRun, vmOutcome{}, []string{"[    9.000000] ** 120 printk messages dropped **"},
			vmproto.Tally{Passed: 3, Failed: 3},
			[]string{"[k] not ok - kernel log records were lost"}},
		{"qemu error", "", vmOutcome{Err: errString("qemu-system-x86_64: exit status 1")}, nil,
			vmproto.Tally{Failed: 2},
			[]string{"[k] not ok - qemu-system-x86_64: exit status 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := newKernelReport("k", 1, &printer{w: &buf}, false)
			feed(r, tt.lines)
			r.finish(tt.outcome, 7*time.Minute, time.Now(), tt.console)
			if got := r.result(); got != tt.want {
				t.Errorf("result = %s, want %s\noutput:\n%s", got, tt.want, buf.String())
			}
			for _, w := range tt.wantOutput {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, buf.String())
				}
			}
			if strings.Contains(buf.String(), "[k] [    1.000000] ok - this is kernel log") {
				t.Errorf("kernel log printed without -verbose:\n%s", buf.String())
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestPrefixWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &prefixWriter{p: &printer{w: &buf}, prefix: "> "}
	w.Write([]byte("\x1bc\x1b[?7l\x1b[2Jone\r\ntw"))
	w.Write([]byte("o\nthree"))
	if got := buf.String(); got != "> one\n> two\n" {
		t.Errorf("prefixWriter wrote %q", got)
	}
}
