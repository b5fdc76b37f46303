package guest

import (
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

func TestSuiteJudgeSkip(t *testing.T) {
	skip := vmproto.SkipLine("engagebpf: gate", "kernel without BPF_KPROBE_OVERRIDE")
	if l := newSuiteJudge(false).line(skip); l.Kind != vmproto.Pass || !l.Skip {
		t.Errorf("a skip where skips are allowed: %+v, want a skipped pass", l)
	}
	l := newSuiteJudge(true).line(skip)
	if l.Kind != vmproto.Fail || !strings.Contains(l.Reason, NoSkipEnv) || !strings.Contains(l.Reason, "BPF_KPROBE_OVERRIDE") {
		t.Errorf("a skip on a kernel that must run the test: %+v, want a failure naming %s and the reason", l, NoSkipEnv)
	}
	if l := newSuiteJudge(true).line("ok - engagebpf: gate"); l.Kind != vmproto.Pass {
		t.Errorf("a pass where skips fail: %+v", l)
	}
}

func TestSuiteJudgePlan(t *testing.T) {
	j := newSuiteJudge(false)
	j.line("1..2")
	j.line("ok - a")
	if p := j.problems(); len(p) != 1 || !strings.Contains(p[0], "planned 2 results, reported 1") {
		t.Errorf("a suite that stopped after one of two results: %q", p)
	}
	j = newSuiteJudge(false)
	if p := j.problems(); len(p) != 1 || !strings.Contains(p[0], "no plan") {
		t.Errorf("a suite that printed nothing: %q", p)
	}
}
