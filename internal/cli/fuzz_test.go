package cli

import (
	"reflect"
	"testing"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// FuzzParseTarget: what engage/tryengage accept on the command line is a
// control line the module's grammar accepts, and reads back the same.
func FuzzParseTarget(f *testing.F) {
	for _, s := range [][3]string{
		{"af_alg_sendmsg", "-1", "uid!=0"}, {"__sys_socket", "neg97", "arg1=38"}, {"f.isra.0", "0x10", ""},
		{"", "1", ""}, {"f", "--1", "uid=-1"}, {"m:f", "9223372036854775808", "arg7=1"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, sym, retval, filter string) {
		args := []string{sym, retval}
		if filter != "" {
			args = append(args, filter)
		}
		tg, err := parseTarget("engage", args, 2)
		if err != nil {
			return
		}
		cmd := ksfs.Engage(tg.sym, tg.retval, tg.filters...)
		if err := cmd.Validate(); err != nil {
			t.Fatalf("%q accepted, but %q is invalid: %v", args, cmd, err)
		}
		back, err := ksfs.ParseCommand(cmd.String())
		if err != nil || !reflect.DeepEqual(back, cmd) {
			t.Fatalf("%q -> %q -> %+v, %v", args, cmd, back, err)
		}
	})
}
