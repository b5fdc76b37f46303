package daemon

import (
	"fmt"
	"time"

	"github.com/killswitch/killswitch/internal/catalog"
	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
)

// catalogAdapter resolves policy CVE entries through the reviewed catalog
// built into killswitchd.
type catalogAdapter struct {
	c *catalog.Catalog
}

// defaultCatalog is the embedded catalog; if it does not load (a broken
// build), CVE entries are refused with the reason and symbol entries still
// work.
func defaultCatalog() policy.Catalog {
	c, err := catalog.Load()
	if err != nil {
		return brokenCatalog{err}
	}
	return catalogAdapter{c}
}

type brokenCatalog struct{ err error }

func (b brokenCatalog) Mitigation(string) (policy.Mitigation, error) {
	return policy.Mitigation{}, fmt.Errorf("the built-in catalog does not load (%v), so the id is %w", b.err, policy.ErrUnknownCVE)
}

// Mitigation implements policy.Catalog. A BPF mitigation becomes its native
// equivalent (engage with the entry's caller filter), which every kernel
// supports without BPF override; only the primary symbol of each target
// is used (a policy entry engages one name per target).
func (ca catalogAdapter) Mitigation(cve string) (policy.Mitigation, error) {
	e, err := ca.c.Lookup(cve)
	if err != nil {
		return policy.Mitigation{}, fmt.Errorf("%w (killswitch mitigations list shows what it has)", policy.ErrUnknownCVE)
	}
	if e.Verb == catalog.VerbNone {
		return policy.Mitigation{}, fmt.Errorf("the catalog has no runtime mitigation for it: %s", e.WhyNone)
	}
	m := policy.Mitigation{CVE: e.ID, Summary: e.Summary, Modules: e.Modules}
	verb := ksfs.VerbEngage
	if e.Verb == catalog.VerbTryEngage {
		verb = ksfs.VerbTryEngage
	}
	for _, t := range e.Targets {
		m.Actions = append(m.Actions, policy.Action{
			Symbol:  t.Symbol,
			Verb:    verb,
			Retval:  t.Retval,
			Filters: e.Filters(),
			Probe:   time.Duration(e.ProbeSeconds) * time.Second,
			Module:  t.Module,
		})
	}
	if len(e.Ranges()) > 0 {
		m.Fixed = func(k policy.Kernel) bool {
			if k.Version == (policy.Version{}) {
				return false
			}
			affected, known := e.AffectedAt(k.Version)
			return known && !affected
		}
	}
	return m, nil
}
