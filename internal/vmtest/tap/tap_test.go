package tap

import (
	"bytes"
	"testing"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

func TestSuiteLines(t *testing.T) {
	var b bytes.Buffer
	s := &Suite{name: "70-x", prefix: "x", out: &b}
	s.Ok("engage %s", "f")
	s.Nok("retval", "want %d, got %d", 1, 2)
	s.Note("seed %d", 7)
	if got := s.Done(); got != 1 {
		t.Errorf("Done with a failure = %d, want 1", got)
	}
	want := "ok - x: engage f\nnot ok - x: retval: want 1, got 2\n# seed 7\n# 70-x: 1 passed, 1 failed\n"
	if b.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", b.String(), want)
	}
	// What the harness makes of it.
	var tally vmproto.Tally
	for _, l := range bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n")) {
		tally.Add(vmproto.Parse(string(l)))
	}
	if tally.Passed != 1 || tally.Failed != 1 {
		t.Errorf("harness tally = %+v, want 1 passed, 1 failed", tally)
	}
}

func TestSuiteDoneClean(t *testing.T) {
	var b bytes.Buffer
	s := &Suite{name: "70-x", prefix: "x", out: &b}
	s.Ok("a")
	if got := s.Done(); got != 0 {
		t.Errorf("Done without failures = %d, want 0", got)
	}
}
