// Package policy is the fleet agent's policy file: its versioned YAML
// schema, a strict parser, and the choice of what applies to one kernel at
// one time.
//
// A policy names engagements by CVE id (resolved through a Catalog) or by
// symbol, retval, verb, filters and probe time, each with an optional
// kernel selector and an expiry:
//
//	apiVersion: killswitch/v1
//	kind: Policy
//	version: "2026-05-18.1"
//	entries:
//	  - cve: CVE-2026-31431
//	    load: true
//	    expires: 2026-07-01T00:00:00Z
//	  - name: ksmbd
//	    symbol: ksmbd_smb2_negotiate
//	    retval: -22
//	    verb: tryengage
//	    probe: 5m
//	    module: ksmbd
//	    kernel:
//	      version: ">=6.1 <6.1.140"
//
// Parse rejects the whole file on any problem — an unknown or repeated
// field, a bad value, a CVE the catalog does not know, two entries with one
// name — and lists every problem with its line, so that an agent never
// applies half of a policy. Select then picks the engagements that apply to
// a kernel now: entries whose selector does not match the kernel, whose CVE
// the kernel already fixes, or that have expired are reported, not applied.
//
// The package reads nothing from the host: the agent passes the Kernel and
// the time, so tests and `killswitchd validate` run anywhere.
package policy
