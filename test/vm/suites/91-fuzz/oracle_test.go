package main

import (
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/kstest"
	"math"
	"strings"
	"testing"
)

// The oracle must say what the module says; these are the module's own
// rules, as selftests/killswitch_test.sh checks them in the VM.
func TestParseControl(t *testing.T) {
	for _, c := range []struct {
		in     string
		ok     bool
		retval int64
	}{
		{"engage ks_test_vuln -1\n", true, -1},
		{"engage ks_test_vuln -1", true, -1},
		{"engage\tks_test_vuln\t 7 ", true, 7},
		{"engage ks_test_vuln -1\n\n", false, 0},
		{"engage ks_test_vuln -1\r\n", false, 0},
		{"engage ks_test_vuln 0x8000000000000000", true, math.MinInt64},
		{"engage ks_test_vuln 0xffffffffffffffff", true, -1},
		{"engage ks_test_vuln -0x8000000000000000", true, math.MinInt64},
		{"engage ks_test_vuln -0x8000000000000001", false, 0},
		{"engage ks_test_vuln 9223372036854775807", true, math.MaxInt64},
		{"engage ks_test_vuln 9223372036854775808", false, 0},
		{"engage ks_test_vuln -9223372036854775808", true, math.MinInt64},
		{"engage ks_test_vuln 010", true, 10},
		{"engage ks_test_vuln 0x", false, 0},
		{"engage ks_test_vuln --1", false, 0},
		{"engage ks_test_vuln +-1", false, 0},
		{"engage ks_test_vuln 1_0", false, 0},
		{"engage ks_test_vuln", false, 0},
		{"engage ks_test_vuln 1 uid=4294967295", true, 1},
		{"engage ks_test_vuln 1 uid=4294967296", false, 0},
		{"engage ks_test_vuln 1 uid=-1", false, 0},
		{"engage ks_test_vuln 1 uid!=0 arg6!=0x10", true, 1},
		{"engage ks_test_vuln 1 arg7=1", false, 0},
		{"engage ks_test_vuln 1 arg0=1", false, 0},
		{"engage ks_test_vuln 1 arg1==1", false, 0},
		{"engage ks_test_vuln 1 !=1", false, 0},
		{"engage ks_test_vuln 1 uid!!=1", false, 0},
		{"engage ks_test_vuln 1" + strings.Repeat(" uid=0", 6), true, 1},
		{"engage ks_test_vuln 1" + strings.Repeat(" uid=0", 7), false, 0},
		{"tryengage ks_test_vuln 1 86400", true, 1},
		{"tryengage ks_test_vuln 1 86401", false, 0},
		{"tryengage ks_test_vuln 1 +1", false, 0},
		{"tryengage ks_test_vuln 1 4294967296", false, 0},
		{"tryengage ks_test_vuln 1 1" + strings.Repeat(" uid=0", 6), true, 1},
		{"disengage_all", true, 0},
		{"disengage_all\n", true, 0},
		{"disengage_all x", false, 0},
		{"disengage ks_test_vuln", true, 0},
		{"disengage ks_test_vuln x", false, 0},
		{"observe mod:sym.isra.0", true, 0},
		{"observe ks-test", false, 0},
		{"observe " + strings.Repeat("a", 511), true, 0},
		{"observe " + strings.Repeat("a", 512), false, 0},
		{"engagebpf ks_test_vuln /x.bpf.o", true, 0},
		{"engagebpf ks_test_vuln x.bpf.o", false, 0},
		{"Engage ks_test_vuln 1", false, 0},
		{"", false, 0},
		{"\n", false, 0},
		{"engage ks_test_vuln 1\x00", false, 0},
		{"engage ks_test_vuln 1\x7f", false, 0},
	} {
		r, ok := parseControl([]byte(c.in))
		if ok != c.ok || ok && r.retval != c.retval {
			t.Errorf("parseControl(%q) = %+v, %v; want ok=%v retval=%d", c.in, r, ok, c.ok, c.retval)
		}
	}
	if _, ok := parseControl([]byte("engage x 1 " + strings.Repeat("y", cmdMax))); ok {
		t.Error("parseControl accepted a line longer than the module's buffer")
	}
}

func TestPredict(t *testing.T) {
	z := &fuzz{kallsyms: map[string]bool{"ks_test_vuln": true, "ks_test_void": true, "schedule": true, "security_file_open": true, "kfree": true}}
	z.model = baselineModel()
	for _, c := range []struct {
		in   string
		want string // errno name, "skip" when not to be written
	}{
		{"engage ks_test_vuln 1", "ok"},
		{"engage ks_test_void 1", "EBUSY"}, // baseline: engaged
		{"engage ks_test_bool 1", "ok"},    // baseline: observed, converts
		{"observe ks_test_bool", "EBUSY"},  // already observed
		{"tryengage ks_test_bool 1 1", "EBUSY"},
		{"engage kfree -1", "EACCES"},        // hazard
		{"engage x:kfree.cold -1", "EACCES"}, // hazard, by base name
		{"engage security_file_open 0", "EACCES"},
		{"engage security_file_open -1", "skip"}, // would really engage it
		{"observe schedule", "skip"},
		{"engage test_killswitch:ks_test_vuln 1", "skip"}, // an alias
		{"engage nosuch 1", "ENOENT"},
		{"disengage nosuch", "ENOENT"},
		{"disengage ks_test_void", "ok"},
	} {
		req, ok := parseControl([]byte(c.in))
		if !ok {
			t.Fatalf("%q does not parse", c.in)
		}
		e, _, write := z.predict(req)
		got := "skip"
		if write {
			got = errnoName(e)
		}
		if got != c.want {
			t.Errorf("predict(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestPredictParam(t *testing.T) {
	z := &fuzz{kallsyms: map[string]bool{"ks_test_vuln": true, "ks_test_ptr": true, "schedule": true, "do_sys_open": true}}
	for _, c := range []struct {
		val  string
		want string
		ok   bool
	}{
		{"ks_test_vuln=-1,ks_test_ptr=0x10", "ks_test_vuln=-1 ks_test_ptr=16", true},
		{"ks_test_vuln=-1,ks_test_vuln=5", "ks_test_vuln=-1", true}, // second: EBUSY
		{",,=1,ks_test_vuln,a=b=1,kfree=-1,nosuch=1,ks_test_ptr=x", "", true},
		{"ks_test_vuln=1=2", "", true}, // the last '=' splits: retval 2, symbol "ks_test_vuln=1"
		{"schedule=0", "", true},       // a hazard: refused by the guard
		{"do_sys_open=0", "", false},
		{"ks_test_vuln=1 x", "", false},
		{strings.Repeat("x", charpMax+1), "", true},
	} {
		es, ok := z.predictParam(c.val)
		var got []string
		for _, e := range es {
			got = append(got, e.sym+"="+itoa(e.retval))
		}
		if ok != c.ok || strings.Join(got, " ") != c.want {
			t.Errorf("predictParam(%q) = %q, %v; want %q, %v", c.val, got, ok, c.want, c.ok)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func errnoName(e unix.Errno) string { return kstest.ErrnoName(e) }
