package catalog

import (
	"bytes"
	"testing"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// FuzzParse: an accepted catalog keeps the promises its validation makes
// to the code that applies it (mitigate, the agent): every entry is found
// by its id, every target is a name the module's grammar takes with a
// retval its return type allows, probe times fit tryengage, no fixed_in
// version lies in an affected range.
func FuzzParse(f *testing.F) {
	// The real catalog's first entries: its whole text makes each run
	// slow (~300 execs/s instead of thousands).
	if i := nthIndex(embedded, []byte("\n  - id:"), 3); i > 0 {
		f.Add(embedded[:i+1])
	}
	f.Add([]byte(`entries:
  - id: CVE-2026-0001
    summary: s
    verb: engage
    targets: [{symbol: f, retval: -1, returns: int, kernels: {"6.1": {present: true}}}]
    affected: ["6.1 <= v < 6.1.100"]
    fixed_in: [6.1.100]
    effect: e
    reviewed: r
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for _, e := range c.Entries() {
			if got, err := c.Lookup(e.ID); err != nil || got != e {
				t.Fatalf("entry %s is not found by its id: %v", e.ID, err)
			}
			if e.ProbeSeconds < 0 || e.ProbeSeconds > int(ksfs.MaxProbe.Seconds()) {
				t.Fatalf("%s: probe_seconds %d accepted", e.ID, e.ProbeSeconds)
			}
			for _, tg := range e.Targets {
				for _, n := range tg.Names() {
					if err := ksfs.ValidateSymbol(n); err != nil {
						t.Fatalf("%s: target name %q accepted: %v", e.ID, n, err)
					}
				}
				if tg.Void() && tg.Retval != 0 {
					t.Fatalf("%s: void %s with retval %d accepted", e.ID, tg.Symbol, tg.Retval)
				}
				if err := ksfs.Engage(tg.Symbol, tg.Retval, e.Filters()...).Validate(); err != nil {
					t.Fatalf("%s: its engage line is invalid: %v", e.ID, err)
				}
			}
			for _, fx := range e.FixedIn {
				v, err := ParseVersion(fx)
				if err != nil {
					t.Fatalf("%s: fixed_in %q accepted: %v", e.ID, fx, err)
				}
				for _, r := range e.Ranges() {
					if r.Contains(v) {
						t.Fatalf("%s: fixed_in %s inside affected %s", e.ID, v, r)
					}
				}
				e.AffectedAt(v)
			}
		}
	})
}

// nthIndex is the offset of the nth occurrence of sep in b, or -1.
func nthIndex(b, sep []byte, n int) int {
	off := 0
	for ; n > 0; n-- {
		i := bytes.Index(b[off:], sep)
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	return off - 1
}
