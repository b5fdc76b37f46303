package trust_test

import (
	"fmt"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
	"github.com/killswitch/killswitch/internal/trust"
)

// A policy editor asks for a reviewed CVE and for a raw symbol: the node's
// default trust level applies the first and refuses the second.
func ExampleRules_Check() {
	cat := policy.MapCatalog{"CVE-2026-31431": {CVE: "CVE-2026-31431", Actions: []policy.Action{
		{Symbol: "af_alg_sendmsg", Verb: ksfs.VerbEngage, Retval: -1, Module: "af_alg"},
	}}}
	pol, err := policy.Parse([]byte(`apiVersion: killswitch/v1
kind: Policy
version: "1"
entries:
  - {cve: CVE-2026-31431, load: true}
  - {name: chown-for-all, symbol: setattr_prepare, retval: 0, filters: ["uid=1000"]}
`), cat)
	if err != nil {
		panic(err)
	}
	for _, r := range (trust.Rules{Level: trust.LevelCatalog}).Check(pol) {
		fmt.Println(r.Entry, r.Reason)
	}
	// Output:
	// chown-for-all raw-symbol
}
