package vmproto

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		kind   Kind
		name   string
		reason string
	}{
		{"ok - engage af_alg_sendmsg", Pass, "engage af_alg_sendmsg", ""},
		{"ok - name\r", Pass, "name", ""},
		{"ok 12 - numbered", Pass, "numbered", ""},
		{"not ok - engage twice: got EINVAL, want EBUSY", Fail, "engage twice", "got EINVAL, want EBUSY"},
		{"not ok - 10-selftest exited 1", Fail, "10-selftest exited 1", ""},
		{"# ok - inside a comment", Comment, "", ""},
		{"# ks-vminit: suite 00-boot", Comment, "", ""},
		{"okay, this is prose", Other, "", ""},
		{"", Other, "", ""},
	}
	for _, tt := range tests {
		l := Parse(tt.in)
		if l.Kind != tt.kind || l.Name != tt.name || l.Reason != tt.reason {
			t.Errorf("Parse(%q) = %+v, want kind %d name %q reason %q", tt.in, l, tt.kind, tt.name, tt.reason)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	if l := Parse(PassLine("a b")); l.Kind != Pass || l.Name != "a b" {
		t.Errorf("PassLine round trip: %+v", l)
	}
	if l := Parse(FailLine("a", "why")); l.Kind != Fail || l.Name != "a" || l.Reason != "why" {
		t.Errorf("FailLine round trip: %+v", l)
	}
	if c := CommentLine("x\nok - forged"); c != "# x\n# ok - forged" {
		t.Errorf("CommentLine folds newlines: %q", c)
	}
	if s, ok := SuiteName(SuiteStart("00-boot")); !ok || s != "00-boot" {
		t.Errorf("SuiteName(SuiteStart) = %q, %v", s, ok)
	}
}

func TestSummary(t *testing.T) {
	if p, f, ok := ParseSummary(Summary(31, 2)); !ok || p != 31 || f != 2 {
		t.Errorf("ParseSummary(Summary(31, 2)) = %d, %d, %v", p, f, ok)
	}
	for _, bad := range []string{"31 passed", "x passed, 0 failed", "ok - 1 passed, 0 failed", "1 passed, 0 failed, 2 skipped"} {
		if _, _, ok := ParseSummary(bad); ok {
			t.Errorf("ParseSummary(%q) accepted", bad)
		}
	}
	var tl Tally
	for _, s := range []string{"ok - a", "not ok - b", "# c", "d"} {
		tl.Add(Parse(s))
	}
	if tl.String() != "1 passed, 1 failed" {
		t.Errorf("Tally = %s", tl)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"ok - a", "not ok - b: c", "# x", "3 passed, 0 failed", "ok 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := Parse(s)
		if l.Kind == Pass || l.Kind == Fail {
			// Re-formatting a result keeps its kind.
			var again Line
			if l.Kind == Pass {
				again = Parse(PassLine(l.Name))
			} else {
				again = Parse(FailLine(l.Name, l.Reason))
			}
			if again.Kind != l.Kind {
				t.Errorf("%q parsed as %d, its re-formatting as %d", s, l.Kind, again.Kind)
			}
		}
		if p, fl, ok := ParseSummary(s); ok {
			if p < 0 || fl < 0 {
				t.Errorf("ParseSummary(%q) = %d, %d", s, p, fl)
			}
			if p2, fl2, ok2 := ParseSummary(Summary(p, fl)); !ok2 || p2 != p || fl2 != fl {
				t.Errorf("ParseSummary(%q) = %d, %d; of its re-formatting %d, %d, %v", s, p, fl, p2, fl2, ok2)
			}
		}
	})
}

func TestParsePlanAndSkip(t *testing.T) {
	if l := Parse("1..12"); l.Kind != PlanLine || l.Planned != 12 {
		t.Errorf("Parse(1..12) = %+v, want a plan of 12", l)
	}
	if l := Parse("1..0 # SKIP no BPF"); l.Kind != PlanLine || l.Planned != 0 {
		t.Errorf("Parse(1..0 # SKIP) = %+v, want a plan of 0", l)
	}
	for _, in := range []string{"2..3", "1..x", "# 1..3", "1..3 and more"} {
		if l := Parse(in); l.Kind == PlanLine {
			t.Errorf("Parse(%q) took it for a plan", in)
		}
	}
	l := Parse(SkipLine("bpf-load: attach", "no error-injection list"))
	if l.Kind != Pass || !l.Skip || l.Name != "bpf-load: attach" || l.SkipReason != "no error-injection list" {
		t.Errorf("Parse(SkipLine) = %+v", l)
	}
	if l := Parse("ok - x # skip: why"); !l.Skip || l.SkipReason != "why" {
		t.Errorf("lower-case skip: %+v", l)
	}
	if l := Parse("ok - name with # a hash"); l.Skip {
		t.Errorf("a hash in a name is not a skip: %+v", l)
	}
}

// TestPlan: each rule of the plan, against a suite output that breaks it
// (and one that keeps them all).
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  string // a problem containing this; "" = none
	}{
		{"as planned", []string{"1..3", "ok - a", "not ok - b: why", "ok - c # SKIP no feature", "# note"}, ""},
		{"no plan", []string{"ok - a"}, "no plan"},
		{"no output at all", nil, "no plan"},
		{"plan of zero, nothing reported", []string{"1..0"}, ""},
		{"fewer results (exited early)", []string{"1..3", "ok - a"}, "planned 3 results, reported 1"},
		{"more results", []string{"1..1", "ok - a", "ok - b"}, "planned 1 results, reported 2"},
		{"plan after results", []string{"ok - a", "1..1"}, "after results"},
		{"two plans", []string{"1..1", "1..1", "ok - a"}, "2 plans"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPlan()
			for _, l := range tc.lines {
				p.See(Parse(l))
			}
			got := strings.Join(p.Problems(), "; ")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("Problems() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKmsgComplete(t *testing.T) {
	if a, b, ok := ParseKmsgComplete(KmsgComplete(12, 3400)); !ok || a != 12 || b != 3400 {
		t.Errorf("round trip: %d..%d %v", a, b, ok)
	}
	for _, bad := range []string{"# ks-kmsg: complete 9..3", "# ks-kmsg: complete x..3", "# ks-kmsg: complete 3", "ok - # ks-kmsg: complete 1..2"} {
		if _, _, ok := ParseKmsgComplete(bad); ok {
			t.Errorf("ParseKmsgComplete(%q) accepted", bad)
		}
	}
	if l := Parse(KmsgComplete(1, 2)); l.Kind != Comment {
		t.Errorf("the proof is not a comment: %+v", l)
	}
}
