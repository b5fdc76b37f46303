package ksfs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRetval(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "-1", want: -1},
		{in: "+5", want: 5},
		{in: "010", want: 10}, // decimal, never octal
		{in: "0x10", want: 16},
		{in: "0X1f", want: 31},
		{in: "-0x10", want: -16},
		{in: "0xffffffffffffffff", want: -1}, // full 64-bit pattern
		{in: "0x8000000000000000", want: -1 << 63},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "-9223372036854775808", want: -1 << 63},
		{in: "9223372036854775808", bad: true},
		{in: "-9223372036854775809", bad: true},
		{in: "-0x8000000000000001", bad: true},
		{in: "0x10000000000000000", bad: true},
		{in: "", bad: true},
		{in: "-", bad: true},
		{in: "0x", bad: true},
		{in: "--1", bad: true},
		{in: "1_000", bad: true},
		{in: " 1", bad: true},
		{in: "1e3", bad: true},
		{in: "0b1", bad: true},
		{in: "0xg", bad: true},
	} {
		got, err := ParseRetval(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseRetval(%q) = %d, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRetval(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseProbe(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "30": 30 * time.Second, "86400": MaxProbe, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute,
	} {
		if got, err := ParseProbe(in); err != nil || got != want {
			t.Errorf("ParseProbe(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"86401", "-1", "1.5s", "25h", "x", ""} {
		if got, err := ParseProbe(in); err == nil {
			t.Errorf("ParseProbe(%q) = %v, want error", in, got)
		}
	}
}

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Filter
		bad  bool
	}{
		{in: "uid=0", want: Filter{}},
		{in: "uid!=0", want: Filter{Negate: true}},
		{in: "uid=4294967295", want: Filter{Value: 1<<32 - 1}},
		{in: "arg1=38", want: Filter{Arg: 1, Value: 38}},
		{in: "arg6!=-1", want: Filter{Arg: 6, Negate: true, Value: -1}},
		{in: "arg2=0x10", want: Filter{Arg: 2, Value: 16}},
		{in: "uid=-1", bad: true},
		{in: "uid=4294967296", bad: true},
		{in: "arg0=1", bad: true},
		{in: "arg7=1", bad: true},
		{in: "arg10=1", bad: true},
		{in: "gid=0", bad: true},
		{in: "uid", bad: true},
		{in: "uid==0", bad: true},
		{in: "uid=!=0", bad: true},
		{in: "!=0", bad: true},
		{in: "uid!!=0", bad: true},
		{in: "uid=", bad: true},
	} {
		got, err := ParseFilter(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseFilter(%q) = %+v, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != strings.Replace(tc.in, "0x10", "16", 1) {
			t.Errorf("Filter(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestParseFilters(t *testing.T) {
	for in, want := range map[string]int{"": 0, "-": 0, "none": 0, "uid!=0": 1, "uid!=0,arg1=38": 2, "uid!=0 arg1=38\n": 2} {
		got, err := ParseFilters(in)
		if err != nil || len(got) != want {
			t.Errorf("ParseFilters(%q) = %v, %v; want %d filters", in, got, err, want)
		}
	}
	if _, err := ParseFilters("uid!=0,bogus"); err == nil {
		t.Error("ParseFilters accepted a bad term")
	}
	fs := []Filter{{Negate: true}, {Arg: 1, Value: 38}}
	if got := FormatFilters(fs); got != "uid!=0,arg1=38" {
		t.Errorf("FormatFilters = %q", got)
	}
}

func TestCommandString(t *testing.T) {
	uidNot0 := Filter{Negate: true}
	for _, tc := range []struct {
		cmd  Command
		want string
	}{
		{Engage("af_alg_sendmsg", -1), "engage af_alg_sendmsg -1"},
		{Engage("__sys_socket", -97, Filter{Arg: 1, Value: 38}), "engage __sys_socket -97 arg1=38"},
		{TryEngage("esp_input", -22, 30*time.Second, uidNot0), "tryengage esp_input -22 30 uid!=0"},
		{TryEngage("esp_input", -22, 0), "tryengage esp_input -22 0"},
		{Observe("ksmbd_smb2_negotiate"), "observe ksmbd_smb2_negotiate"},
		{EngageBPF("af_alg_sendmsg", "/tmp/cve.bpf.o"), "engagebpf af_alg_sendmsg /tmp/cve.bpf.o"},
		{Disengage("esp_input"), "disengage esp_input"},
		{DisengageAll(), "disengage_all"},
	} {
		if got := tc.cmd.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		if err := tc.cmd.Validate(); err != nil {
			t.Errorf("%q: Validate: %v", tc.want, err)
		}
		back, err := ParseCommand(tc.want + "\n")
		if err != nil || !reflect.DeepEqual(back, tc.cmd) {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v", tc.want, back, err, tc.cmd)
		}
	}
}

func TestCommandValidate(t *testing.T) {
	six := make([]Filter, 6)
	for _, tc := range []struct {
		name string
		cmd  Command
		ok   bool
	}{
		{"six filters", Engage("f", -1, six...), true},
		{"seven filters", Engage("f", -1, append(six, Filter{})...), false},
		{"empty symbol", Engage("", -1), false},
		{"space in symbol", Engage("a b", -1), false},
		{"dollar", Engage("a$b", -1), false},
		{"module-qualified", Engage("af_alg:af_alg_sendmsg", -1), true},
		{"clone", Engage("foo.isra.0", -1), true},
		{"longest symbol", Engage(strings.Repeat("a", MaxSymbolLen), -1), true},
		{"long symbol", Engage(strings.Repeat("a", MaxSymbolLen+1), -1), false},
		{"probe too long", TryEngage("f", -1, MaxProbe+time.Second), false},
		{"probe fraction", TryEngage("f", -1, 1500*time.Millisecond), false},
		{"probe on engage", Command{Verb: VerbEngage, Symbol: "f", Probe: time.Second}, false},
		{"retval on observe", Command{Verb: VerbObserve, Symbol: "f", Retval: 1}, false},
		{"filter on disengage", Command{Verb: VerbDisengage, Symbol: "f", Filters: six[:1]}, false},
		{"relative object", EngageBPF("f", "x.bpf.o"), false},
		{"object with space", EngageBPF("f", "/tmp/a b.o"), false},
		{"object missing", EngageBPF("f", ""), false},
		{"object on engage", Command{Verb: VerbEngage, Symbol: "f", Object: "/x"}, false},
		{"symbol on disengage_all", Command{Verb: VerbDisengageAll, Symbol: "f"}, false},
		{"bad filter", Engage("f", -1, Filter{Arg: 7}), false},
		{"unknown verb", Command{Verb: "kill", Symbol: "f"}, false},
	} {
		err := tc.cmd.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v does not wrap ErrMalformed", tc.name, err)
		}
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"engage f -1", true},
		{"engage\tf\t-1\n", true},
		{"  engage  f  -1  ", true},
		{"engage f -1\n\n", false},
		{"engage f -1 \r", false},
		{"engage f", false},
		{"engage f x", false},
		{"engage f -1 extra", false},
		{"engage f -1 uid!=0 arg1=1 arg2=2 arg3=3 arg4=4 arg5=5", true},
		{"engage f -1 uid!=0 arg1=1 arg2=2 arg3=3 arg4=4 arg5=5 arg6=6", false},
		{"tryengage f -1", false},
		{"tryengage f -1 86400", true},
		{"tryengage f -1 86401", false},
		{"tryengage f -1 +5", false},
		{"tryengage f -1 0x5", false},
		{"observe f", true},
		{"observe f 1", false},
		{"engagebpf f /x.o", true},
		{"engagebpf f x.o", false},
		{"engagebpf f", false},
		{"disengage f", true},
		{"disengage", false},
		{"disengage_all", true},
		{"disengage_all f", false},
		{"", false},
		{"\n", false},
		{"ENGAGE f -1", false},
		{"engage f\xff -1", false},
		{"engage " + strings.Repeat("f", 5000) + " -1", false},
	} {
		_, err := ParseCommand(tc.line)
		if (err == nil) != tc.ok {
			t.Errorf("ParseCommand(%q) = %v, want ok=%v", tc.line, err, tc.ok)
		}
	}
}

func TestParseEngaged(t *testing.T) {
	in := "af_alg_sendmsg retval=-1 hits=3\n" +
		"__sys_socket retval=-97 hits=2 filter=arg1=38 passed=10\n" +
		"esp_input retval=-22 hits=0 filter=uid!=0,arg2=5 state=probing timeout_left=12 since=4711 future=yes\n\n"
	got, err := ParseEngaged(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Engagement{
		{Symbol: "af_alg_sendmsg", State: StateEngaged, Retval: -1, Hits: 3},
		{Symbol: "__sys_socket", State: StateEngaged, Retval: -97, Hits: 2, Passed: 10, Filter: "arg1=38"},
		{Symbol: "esp_input", State: StateProbing, Retval: -22, Filter: "uid!=0,arg2=5",
			TimeoutLeft: 12 * time.Second, Since: 4711 * time.Second, Extra: map[string]string{"future": "yes"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseEngaged:\n got %+v\nwant %+v", got, want)
	}
	fs, err := got[2].Filters()
	if err != nil || len(fs) != 2 {
		t.Fatalf("Filters() = %v, %v", fs, err)
	}

	for _, bad := range []string{
		"f retval=-1",         // no hits
		"f hits=1",            // no retval
		"f retval=x hits=1",   // bad number
		"f retval=-1 hits=-1", // negative count
		"f retval=-1 hits=1 junk",
		"f retval=-1 hits=1 =x",
		"f retval=-1 hits=1 state=sleeping",
		"f retval=-1 hits=1 filter=gid=0",
		"f$ retval=-1 hits=1",
	} {
		if _, err := ParseEngagedLine(bad); err == nil {
			t.Errorf("ParseEngagedLine(%q) accepted", bad)
		}
	}
}

func TestParseCallers(t *testing.T) {
	got, err := ParseCallers("sshd 812 0\nkworker/0:1 33 0\nWeb Content 4242 1000\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []Caller{{"sshd", 812, 0}, {"kworker/0:1", 33, 0}, {"Web Content", 4242, 1000}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v want %+v", got, want)
	}
	for _, bad := range []string{"sshd 812", "812 0", "sshd x 0", "sshd 1 -1"} {
		if _, err := ParseCallers(bad); err == nil {
			t.Errorf("ParseCallers(%q) accepted", bad)
		}
	}
}

func TestParseLockdown(t *testing.T) {
	for in, want := range map[string]Lockdown{
		"[none] integrity confidentiality\n": LockdownNone,
		"none [integrity] confidentiality":   LockdownIntegrity,
		"none integrity [confidentiality]":   LockdownConfidentiality,
	} {
		if got, err := ParseLockdown(in); err != nil || got != want {
			t.Errorf("ParseLockdown(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "none integrity", "[weird]", "[]"} {
		if _, err := ParseLockdown(bad); err == nil {
			t.Errorf("ParseLockdown(%q) accepted", bad)
		}
	}
	if LockdownIntegrity.AllowsRuntime() || !LockdownIntegrity.AllowsModparam() || LockdownConfidentiality.AllowsModparam() {
		t.Error("lockdown permissions wrong")
	}
}

func TestParseKmsg(t *testing.T) {
	in := "6,1,0,-;Linux version 6.1\n SUBSYSTEM=acpi\n4,17,5000,-,caller=T1;killswitch: engage f retval=-1\njunk\n3,x,1,-;bad seq\n"
	got := ParseKmsg(in)
	want := []LogRecord{{1, "Linux version 6.1"}, {17, "killswitch: engage f retval=-1"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v want %+v", got, want)
	}
}

func TestFormatRetval(t *testing.T) {
	for v, want := range map[int64]string{-1: "-1 (EPERM)", -22: "-22 (EINVAL)", 0: "0", 1: "1", -5000: "-5000"} {
		if got := FormatRetval(v); got != want {
			t.Errorf("FormatRetval(%d) = %q, want %q", v, got, want)
		}
	}
}
