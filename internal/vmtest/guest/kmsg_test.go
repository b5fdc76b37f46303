package guest

import (
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

func TestFormatKmsg(t *testing.T) {
	tests := []struct {
		rec  string
		want string
		ok   bool
	}{
		{"6,339,5140900,-;NET: Registered PF_INET6 protocol family\n", "[    5.140900] NET: Registered PF_INET6 protocol family", true},
		{"4,1024,12345678,-,caller=T1;killswitch: engage x retval=-1\n SUBSYSTEM=x\n DEVICE=+x\n", "[   12.345678] killswitch: engage x retval=-1", true},
		{"no separator", "", false},
		{"6,1;text", "", false},
		{"6,1,abc,-;text", "", false},
	}
	for _, tt := range tests {
		got, ok := FormatKmsg([]byte(tt.rec))
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormatKmsg(%q) = %q, %v; want %q, %v", tt.rec, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseCmdline(t *testing.T) {
	c := ParseCmdline("console=ttyS0 panic=-1 ks.label=debian-6.12 ks.arch=x86_64 ks.results=/dev/ttyS1 ks.suite_timeout=60 ks.suite_timeout=bad\n")
	if c.Label != "debian-6.12" || c.Arch != "x86_64" || c.Results != "/dev/ttyS1" || c.SuiteTimeout.Seconds() != 60 {
		t.Errorf("ParseCmdline: got %+v", c)
	}
	if d := ParseCmdline(""); d.SuiteTimeout != defaultSuiteTimeout || d.Results != "/dev/ttyS1" {
		t.Errorf("ParseCmdline defaults: got %+v", d)
	}
}

func FuzzFormatKmsg(f *testing.F) {
	f.Add([]byte("6,339,5140900,-;NET: Registered\n SUBSYSTEM=x\n"))
	f.Fuzz(func(t *testing.T, rec []byte) {
		if line, ok := FormatKmsg(rec); ok && len(line) < 15 {
			t.Errorf("FormatKmsg(%q) = %q", rec, line)
		}
	})
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("ks.label=x ks.suite_timeout=5 ks.results=/dev/ttyS1")
	f.Fuzz(func(t *testing.T, s string) {
		if c := ParseCmdline(s); c.SuiteTimeout <= 0 {
			t.Errorf("ParseCmdline(%q) gave timeout %s", s, c.SuiteTimeout)
		}
	})
}

func TestParseCmdlineEnv(t *testing.T) {
	c := ParseCmdline("ks.label=x ks.env=KS_STRESS_DURATION=5m ks.env=PATH=/evil ks.env=KS_NOVALUE ks.env=KS_A=b=c\n")
	want := []string{"KS_STRESS_DURATION=5m", "KS_A=b=c"}
	if strings.Join(c.Env, " ") != strings.Join(want, " ") {
		t.Errorf("ParseCmdline env: got %q, want %q", c.Env, want)
	}
}

// TestKmsgLog: a log read from boot has no gap; records overwritten
// before the first read, or between two reads (EPIPE), leave a marker.
func TestKmsgLog(t *testing.T) {
	var k kmsgLog
	for _, r := range []string{"6,0,1,-;Linux version", "6,1,2,-;two", "6,2,3,-;three"} {
		k.add([]byte(r))
	}
	if got := strings.Join(k.lines, "\n"); strings.Contains(got, "lost") || len(k.lines) != 3 {
		t.Errorf("a whole log reported a loss:\n%s", got)
	}
	k = kmsgLog{}
	for _, r := range []string{"6,42,1,-;first we saw", "6,43,2,-;next", "6,50,3,-;after EPIPE"} {
		k.add([]byte(r))
	}
	got := strings.Join(k.lines, "\n")
	for _, want := range []string{"[kmsg: records lost: 0..41", "[kmsg: records lost: 44..49"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}

// TestKmsgLogForgive: a gap inside a range a suite proved it read whole
// is no loss; a gap outside it, or only partly inside, still is.
func TestKmsgLogForgive(t *testing.T) {
	var k kmsgLog
	for _, r := range []string{"6,0,1,-;boot", "6,10,2,-;after gap 1..9", "6,30,3,-;after gap 11..29"} {
		k.add([]byte(r))
	}
	k.forgive([][2]uint64{{1, 9}, {12, 40}})
	got := strings.Join(k.lines, "\n")
	if strings.Contains(got, "records lost: 1..9") || !strings.Contains(got, "records 1..9 overwritten before ks-vminit read them; a suite read all of 1..9") {
		t.Errorf("a gap a suite covered is still a loss:\n%s", got)
	}
	if !strings.Contains(got, "[kmsg: records lost: 11..29") {
		t.Errorf("a gap only partly covered was forgiven:\n%s", got)
	}
	j := newSuiteJudge(false)
	j.line(vmproto.KmsgComplete(5, 7))
	if len(j.covered) != 1 || j.covered[0] != [2]uint64{5, 7} {
		t.Errorf("the judge did not collect the suite's proof: %v", j.covered)
	}
}
