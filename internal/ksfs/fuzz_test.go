package ksfs

import (
	"reflect"
	"strconv"
	"testing"
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

func FuzzParseCallers(f *testing.F) {
	f.Add("sshd 812 0\nWeb Content 4242 1000\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseCallers(s)
	})
}

func FuzzParseLockdown(f *testing.F) {
	f.Add("none [integrity] confidentiality")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseLockdown(s)
	})
}

func FuzzParseKmsg(f *testing.F) {
	f.Add("6,1,0,-;Linux\n SUBSYSTEM=x\n4,2,5,-,caller=T1;killswitch: engage f\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = ParseKmsg(s)
	})
}
