package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		header + "entries: []\n",
		header + "exclusive: true\nentries:\n  - {symbol: f, retval: -1, filters: [uid!=0], kernel: {version: \">=6.1 <6.2\"}}\n",
		header + "entries:\n  - cve: CVE-2026-43284\n    expires: 2026-07-01T00:00:00Z\n    load: true\n",
		header + "entries:\n  - {symbol: f, verb: tryengage, retval: 0x10, probe: 5m, kernel: {release: [\"6.*\"]}}\n",
		header + "a: &a [*a]\nentries: *a\n",
		"{apiVersion: killswitch/v1, kind: Policy, version: 1, entries: [{symbol: g, verb: observe}]}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, testCatalog)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || len(perr.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			if p != nil {
				t.Fatal("policy returned with an error")
			}
			return
		}
		if p.Version == "" {
			t.Fatal("accepted without a version")
		}
		names := map[string]bool{}
		for _, e := range p.Entries {
			if names[e.Name] {
				t.Fatalf("duplicate name %q accepted", e.Name)
			}
			names[e.Name] = true
			if len(e.Targets) == 0 {
				t.Fatalf("entry %q has no targets", e.Name)
			}
			for _, tg := range e.Targets {
				if err := tg.Command().Validate(); err != nil {
					t.Fatalf("entry %q: accepted an invalid command %q: %v", e.Name, tg.Command(), err)
				}
			}
		}
		// Selecting never panics.
		_, _ = p.Select(Kernel{"6.1.0-56-amd64", ver(6, 1, 192)}, time.Unix(1780000000, 0))
	})
}

// FuzzParseConstraint: an accepted constraint's text parses back to one
// that matches exactly the same versions, and "a || b" matches what a or
// b matches.
func FuzzParseConstraint(f *testing.F) {
	for _, s := range []string{">=6.1 <6.1.140", "6.1 || 6.6", "=6.12.3", "!=6.1.0-rc1", "<=6.1,>5.10", "6", "|| 6.1", ">=6.1-rc"} {
		f.Add(s, "6.1.100")
	}
	f.Fuzz(func(t *testing.T, s, probe string) {
		c, err := ParseConstraint(s)
		if err != nil {
			return
		}
		again, err := ParseConstraint(c.String())
		if err != nil {
			t.Fatalf("%q -> %q does not parse: %v", s, c.String(), err)
		}
		v, err := ParseVersion(probe)
		if err != nil {
			return
		}
		if c.Match(v) != again.Match(v) {
			t.Fatalf("%q and its text %q disagree on %s", s, c.String(), v)
		}
		if a, b, ok := strings.Cut(c.String(), "||"); ok {
			ca, erra := ParseConstraint(a)
			cb, errb := ParseConstraint(b)
			if erra != nil || errb != nil {
				t.Fatalf("%q parsed, its alternatives %q, %q do not: %v, %v", s, a, b, erra, errb)
			}
			if c.Match(v) != (ca.Match(v) || cb.Match(v)) {
				t.Fatalf("%q on %s: %v, but %q: %v, %q: %v", s, v, c.Match(v), a, ca.Match(v), b, cb.Match(v))
			}
		}
	})
}
