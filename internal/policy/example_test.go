package policy_test

import (
	"fmt"
	"time"

	"github.com/killswitch/killswitch/internal/policy"
)

func ExampleParse() {
	_, err := policy.Parse([]byte(`apiVersion: killswitch/v1
kind: Policy
version: "2"
entries:
  - symbol: af_alg_sendmsg
    retvl: -1
`), nil)
	fmt.Println(err)
	// Output:
	// invalid policy: 2 problems:
	//   line 5: entries[0].retval: missing: engage needs the value af_alg_sendmsg should return (a negative errno such as -1 is usual)
	//   line 6: entries[0].retvl: unknown field "retvl" (entries[0] takes name, cve, symbol, retval, verb, probe, filters, module, load, force, adopt, kernel, expires)
}

func ExamplePolicy_Select() {
	p, err := policy.Parse([]byte(`apiVersion: killswitch/v1
kind: Policy
version: "3"
entries:
  - name: copy-fail
    symbol: af_alg_sendmsg
    retval: -1
    module: af_alg
    expires: 2026-07-01T00:00:00Z
  - name: old-kernels-only
    symbol: esp_input
    retval: -22
    kernel: {version: "<6.1.100"}
`), nil)
	if err != nil {
		panic(err)
	}
	k := policy.KernelFromUname("6.1.0-56-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-11-01)", "")
	sel, _ := p.Select(k, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	for _, t := range sel.Targets {
		fmt.Println("engage:", t.Command())
	}
	for _, s := range sel.Skipped {
		fmt.Println("skip:", s.Entry, s.Reason, "-", s.Detail)
	}
	fmt.Println("next change:", sel.Next)
	// Output:
	// engage: engage af_alg_sendmsg -1
	// skip: old-kernels-only not-selected - kernel version 6.1.192 is outside <6.1.100
	// next change: 2026-07-01 00:00:00 +0000 UTC
}
