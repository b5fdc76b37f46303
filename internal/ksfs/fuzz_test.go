package ksfs

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz targets check that no parser panics and that whatever a parser
// accepts renders back to something it accepts as the same value.

func FuzzParseRetval(f *testing.F) {
	for _, s := range []string{"-1", "0x10", "0xffffffffffffffff", "-9223372036854775808", "010", "+", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRetval(s)
		if err != nil {
			return
		}
		back, err := ParseRetval(strconv.FormatInt(v, 10))
		if err != nil || back != v {
			t.Fatalf("%q -> %d -> %d, %v", s, v, back, err)
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"uid!=0", "arg1=38", "arg6!=-0x1", "uid=4294967295", "uid=!=1", "!="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		back, err := ParseFilter(flt.String())
		if err != nil || back != flt {
			t.Fatalf("%q -> %+v -> %+v, %v", s, flt, back, err)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"engage af_alg_sendmsg -1\n", "tryengage f -22 30 uid!=0 arg1=38", "observe f",
		"engagebpf f /tmp/x.bpf.o", "disengage f", "disengage_all\n", "engage f 0x10\t", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := ParseCommand(s)
		if err != nil {
			return
		}
		if err := cmd.Validate(); err != nil {
			t.Fatalf("%q parsed but does not validate: %v", s, err)
		}
		back, err := ParseCommand(cmd.String())
		if err != nil || !reflect.DeepEqual(back, cmd) {
			t.Fatalf("%q -> %q -> %+v, %v", s, cmd.String(), back, err)
		}
	})
}

func FuzzParseEngaged(f *testing.F) {
	f.Add("af_alg_sendmsg retval=-1 hits=3\n__sys_socket retval=-97 hits=2 filter=arg1=38 passed=1\n")
	f.Add("f retval=-1 hits=0 state=probing timeout_left=3 since=1.5 x=y")
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseEngaged(s)
		if err != nil {
			return
		}
		for _, e := range list {
			if ValidateSymbol(e.Symbol) != nil {
				t.Fatalf("accepted bad symbol %q", e.Symbol)
			}
			if _, err := e.Filters(); err != nil {
				t.Fatalf("accepted bad filter %q: %v", e.Filter, err)
			}
		}
	})
}

func FuzzParseEngagedLine(f *testing.F) {
	f.Add("__sys_socket retval=-97 hits=2 filter=arg1=38 passed=1 missed=4 since=12.5 x=y")
	f.Add("f retval=0x10 hits=0 state=probing timeout_left=3 filter=uid!=0 filter=arg2=1")
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseEngagedLine(line)
		if err != nil {
			return
		}
		again := formatEngaged(e)
		back, err := ParseEngagedLine(again)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", line, e, again, back, err)
		}
	})
}

// formatEngaged renders every field ParseEngagedLine keeps, the way the
// module would.
func formatEngaged(e Engagement) string {
	seconds := func(d time.Duration) string {
		return fmt.Sprintf("%d.%09d", d/time.Second, d%time.Second)
	}
	parts := []string{e.Symbol, "retval=" + strconv.FormatInt(e.Retval, 10), "hits=" + strconv.FormatUint(e.Hits, 10),
		"passed=" + strconv.FormatUint(e.Passed, 10), "missed=" + strconv.FormatUint(e.Missed, 10),
		"state=" + string(e.State), "since=" + seconds(e.Since), "timeout_left=" + seconds(e.TimeoutLeft)}
	if e.Filter != "" {
		parts = append(parts, "filter="+e.Filter)
	}
	keys := make([]string, 0, len(e.Extra))
	for k := range e.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+e.Extra[k])
	}
	return strings.Join(parts, " ")
}

func FuzzParseFilters(f *testing.F) {
	for _, s := range []string{"uid!=0,arg1=38", "uid=0 arg2!=0x10", "-", "none", "", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseFilters(s)
		if err != nil {
			return
		}
		back, err := ParseFilters(FormatFilters(list))
		if err != nil || len(back) != len(list) {
			t.Fatalf("%q -> %q -> %+v, %v", s, FormatFilters(list), back, err)
		}
		for i := range list {
			if back[i] != list[i] {
				t.Fatalf("%q: filter %d %+v came back as %+v", s, i, list[i], back[i])
			}
		}
	})
}

func FuzzParseProbe(f *testing.F) {
	for _, s := range []string{"0", "30", "86400", "86401", "90s", "5m", "1.5s", "-1s", "24h", "1h1ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseProbe(s)
		if err != nil {
			return
		}
		if d < 0 || d > MaxProbe || d%time.Second != 0 {
			t.Fatalf("ParseProbe(%q) accepted %v", s, d)
		}
		back, err := ParseProbe(strconv.FormatInt(int64(d/time.Second), 10))
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %v, %v", s, d, back, err)
		}
		if err := TryEngage("f", -1, d).Validate(); err != nil {
			t.Fatalf("probe %v from %q does not make a valid tryengage: %v", d, s, err)
		}
	})
}

func FuzzParseState(f *testing.F) {
	for _, s := range []string{"engaged", "probing\n", " observing", "off"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseState(s)
		if err != nil {
			return
		}
		if back, err := ParseState(string(st)); err != nil || back != st || strings.TrimSpace(s) != string(st) {
			t.Fatalf("%q -> %q -> %q, %v", s, st, back, err)
		}
	})
}

func FuzzParseCallers(f *testing.F) {
	f.Add("sshd 812 0\nWeb Content 4242 1000\n")
	f.Add(" 1 2\n\tx\t3 4 \r\n")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseCallers(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, c := range cs {
			if c.PID < 0 || strings.ContainsAny(c.Comm, "\n") {
				t.Fatalf("%q: accepted %+v", s, c)
			}
			fmt.Fprintf(&b, "%s %d %d\n", c.Comm, c.PID, c.UID)
		}
		back, err := ParseCallers(b.String())
		if err != nil || !reflect.DeepEqual(back, cs) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, cs, b.String(), back, err)
		}
	})
}

func FuzzParseLockdown(f *testing.F) {
	f.Add("none [integrity] confidentiality")
	f.Add("[none] integrity confidentiality\n")
	f.Add("[bogus] [confidentiality]")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLockdown(s)
		if err != nil {
			return
		}
		if !strings.Contains(s, "["+string(l)+"]") {
			t.Fatalf("%q: level %q is not the bracketed one", s, l)
		}
		all := "none integrity confidentiality"
		if back, err := ParseLockdown(strings.Replace(all, string(l), "["+string(l)+"]", 1)); err != nil || back != l {
			t.Fatalf("%q -> %q -> %q, %v", s, l, back, err)
		}
		if l.AllowsRuntime() != (l == LockdownNone) || l.AllowsModparam() != (l != LockdownConfidentiality) {
			t.Fatalf("level %q: AllowsRuntime %v AllowsModparam %v", l, l.AllowsRuntime(), l.AllowsModparam())
		}
	})
}

func FuzzParseKmsg(f *testing.F) {
	f.Add("6,1,0,-;Linux\n SUBSYSTEM=x\n4,2,5,-,caller=T1;killswitch: engage f\n")
	f.Add("bad\n;x\n1;y\n,2;z\n")
	f.Fuzz(func(t *testing.T, s string) {
		recs := ParseKmsg(s)
		var b strings.Builder
		for _, r := range recs {
			if strings.Contains(r.Message, "\n") {
				t.Fatalf("%q: message %q spans lines", s, r.Message)
			}
			fmt.Fprintf(&b, "4,%d,0,-;%s\n", r.Seq, r.Message)
		}
		if back := ParseKmsg(b.String()); !reflect.DeepEqual(back, recs) {
			t.Fatalf("%q -> %+v -> %+v", s, recs, back)
		}
	})
}
