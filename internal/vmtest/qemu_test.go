package vmtest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQEMU stands in for the emulator: a script that writes to the results
// descriptor and the console the way a guest would, then behaves as told.
func fakeQEMU(t *testing.T, body string) *Kernel {
	t.Helper()
	script := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	arch := X86_64()
	arch.QEMU = script
	return &Kernel{Label: "fake", Arch: arch, Image: "/nonexistent"}
}

func TestRunVM(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		ctxLimit time.Duration
		want     func(vmOutcome) bool
		lines    string
	}{
		{"clean exit", `echo "booting"; echo "ok - a" >&3; echo "1 passed, 0 failed" >&3; exit 0`, time.Minute,
			func(o vmOutcome) bool { return !o.Silent && !o.TimedOut && o.Err == nil }, "ok - a|1 passed, 0 failed"},
		{"hung guest", `echo "ok - a" >&3; exec sleep 30`, time.Minute,
			func(o vmOutcome) bool { return o.Silent && !o.TimedOut }, "ok - a"},
		{"run deadline", `echo "ok - a" >&3; while :; do echo "# alive" >&3; sleep 0.05; done`, 700 * time.Millisecond,
			func(o vmOutcome) bool { return o.TimedOut && !o.Silent }, "ok - a"},
		{"qemu fails", `echo "qemu: cannot open kernel" >&2; exit 1`, time.Minute,
			func(o vmOutcome) bool { return o.Err != nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxLimit)
			defer cancel()
			c := vmConfig{Kernel: fakeQEMU(t, tt.body), Initrd: "/nonexistent", MemoryMB: 64, CPUs: 1,
				SuiteTimeout: time.Second, Silence: 400 * time.Millisecond}
			var console bytes.Buffer
			var got []string
			o := runVM(ctx, c, &console, func(l string) { got = append(got, l) })
			if !tt.want(o) {
				t.Errorf("outcome %+v", o)
			}
			if s := strings.Join(got, "|"); !strings.HasPrefix(s, tt.lines) {
				t.Errorf("results %q, want prefix %q", s, tt.lines)
			}
			if o.Elapsed > 10*time.Second {
				t.Errorf("took %s: the emulator was not killed promptly", o.Elapsed)
			}
		})
	}
}
