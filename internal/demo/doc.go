// Package demo holds the CVE demonstrators: small, harmless programs that
// exercise the code path a catalog entry switches off, so that an operator
// (or a test) can see the mitigation take effect and go away again.
//
// CopyFail (CVE-2026-31431) runs one AF_ALG AEAD gcm(aes) encryption: it
// works on an exposed host and fails with EPERM once af_alg_sendmsg is
// engaged. DirtyFrag (CVE-2026-43284) builds two network namespaces joined
// by a veth pair, protects the link with an ESP transport-mode SA and
// policy pair, and sends UDP datagrams through it: they arrive on an
// exposed host and are dropped once esp_input is engaged.
//
// Neither triggers the bug itself. Both need root (AF_ALG needs none, but
// the modules may have to be loaded) and leave nothing behind.
package demo

// Outcome is what a demonstrator observed.
type Outcome string

const (
	// Exposed: the vulnerable code path ran.
	Exposed Outcome = "exposed"
	// Blocked: the path was refused as a killswitch mitigation refuses it.
	Blocked Outcome = "blocked"
)

// Result is a demonstrator's verdict and what it saw, for people.
type Result struct {
	Outcome Outcome
	Detail  string
}
