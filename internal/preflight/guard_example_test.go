package preflight_test

import (
	"fmt"

	"github.com/killswitch/killswitch/internal/preflight"
)

// The module judges a retval at the width callers read: -4294967296 is
// negative as 64 bits but 0, "allowed", to an int caller.
func ExampleGuardRefuses() {
	for _, c := range []struct {
		sym    string
		retval int64
	}{
		{"security_file_open", -1},
		{"cap_capable", -4294967296},
		{"inode_owner_or_capable", 1},
		{"module_sig_check", -1},
		{"af_alg_sendmsg", -1},
	} {
		rule, refused := preflight.GuardRefuses(c.sym, c.retval)
		fmt.Printf("%s %d: refused=%v rule=%q (%s)\n", c.sym, c.retval, refused, rule.Pattern, rule.Class)
	}
	// Output:
	// security_file_open -1: refused=false rule="security_*" (errno)
	// cap_capable -4294967296: refused=true rule="cap_capable" (errno)
	// inode_owner_or_capable 1: refused=true rule="inode_owner_or_capable" (yesno)
	// module_sig_check -1: refused=true rule="module_sig_check" (integrity)
	// af_alg_sendmsg -1: refused=false rule="" (none)
}
