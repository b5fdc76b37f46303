package vmproto

import "testing"

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
