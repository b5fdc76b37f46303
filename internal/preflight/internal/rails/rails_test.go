package rails

import (
	"bytes"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	rules, err := Parse("t", []byte("# c\n[hazard an allocator]\nkmalloc* kfree # free\n\n[errno an LSM hook]\nsecurity_*\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{{"kmalloc*", "hazard", "an allocator"}, {"kfree", "hazard", "an allocator"}, {"security_*", "errno", "an LSM hook"}}
	if len(rules) != len(want) {
		t.Fatalf("got %v", rules)
	}
	for i := range want {
		if rules[i] != want[i] {
			t.Errorf("rule %d = %v, want %v", i, rules[i], want[i])
		}
	}
	for _, bad := range []string{
		"",                            // no rules
		"kmalloc\n",                   // before a header
		"[hazard]\nx\n",               // no what
		"[bogus what]\nx\n",           // unknown class
		"[hazard what\nx\n",           // unclosed
		"[hazard a \"b\"]\nx\n",       // a quote would break the C string
		"[hazard w]\nx?y\n",           // only '*' is a wildcard
		"[hazard w]\n*\n",             // matches everything
		"[hazard w]\nx\n[errno w]\nx", // duplicate
		"[hazard w]\nx\\\"\n",         // escapes
	} {
		if _, err := Parse("t", []byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
}

func TestRender(t *testing.T) {
	rules := []Rule{{"cap_*", "errno", "an LSM hook"}}
	if c := string(C(rules)); !strings.Contains(c, "\t{ \"cap_*\", KS_RAIL_ERRNO, \"an LSM hook\" },\n") {
		t.Errorf("C:\n%s", c)
	}
	g, err := Go(rules)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(g, []byte(`{"cap_*", GuardErrno, "an LSM hook"},`)) {
		t.Errorf("Go:\n%s", g)
	}
}

// FuzzParse: whatever Parse accepts renders to C without a quote or
// backslash out of place and to Go that gofmt accepts.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[hazard an allocator]\nkmalloc* kfree\n[either x]\n*may_*\n"))
	f.Add([]byte("[yesno a \"q\"]\nx\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		rules, err := Parse("fuzz", src)
		if err != nil {
			return
		}
		for _, r := range rules {
			if strings.ContainsAny(r.Pattern+r.What, "\"\\\n") {
				t.Fatalf("rule %+v would break the C table", r)
			}
		}
		_ = C(rules)
		if _, err := Go(rules); err != nil {
			t.Fatalf("Go: %v", err)
		}
	})
}
