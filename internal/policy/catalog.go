package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// ErrUnknownCVE is wrapped by a Catalog's error for a CVE it has no entry
// for.
var ErrUnknownCVE = errors.New("not in the catalog")

// Catalog resolves CVE ids to the engagements that mitigate them: the
// project's reviewed mitigation catalog, adapted by the caller.
type Catalog interface {
	// Mitigation returns how to mitigate cve (an upper-case CVE id). The
	// error wraps ErrUnknownCVE when the catalog has no entry, and says
	// why when the entry has no runtime mitigation.
	Mitigation(cve string) (Mitigation, error)
}

// Mitigation is a catalog entry as the policy needs it.
type Mitigation struct {
	CVE     string
	Summary string
	// Actions are the engagements, one per symbol (Dirty Frag needs
	// esp_input and esp6_input).
	Actions []Action
	// Modules are the modules the entry names: those that must be loaded
	// for its targets to exist. With load: true only these (and the
	// actions' own Module) may be loaded for it under a catalog trust.
	Modules []string
	// Fixed reports whether a kernel already carries the fix, so the
	// mitigation is not needed there; nil when the catalog cannot tell.
	Fixed func(Kernel) bool
}

// Action is one engagement of a catalog entry. Verb is engage, tryengage
// or observe: a catalog adapter turns a BPF mitigation into its native
// caller-filter equivalent, which every kernel supports.
type Action struct {
	Symbol  string
	Verb    ksfs.Verb
	Retval  int64
	Filters []ksfs.Filter
	// Probe is the tryengage window.
	Probe time.Duration
	// Module holds the symbol, if it is in a loadable module.
	Module string
}

// NoCatalog is the Catalog of a build without one: every CVE is unknown.
type NoCatalog struct{}

// Mitigation implements Catalog.
func (NoCatalog) Mitigation(cve string) (Mitigation, error) {
	return Mitigation{}, errNoCatalog
}

var errNoCatalog = fmt.Errorf("this build has no CVE catalog, so the id is %w (name the symbol, retval and verb instead)", ErrUnknownCVE)

// MapCatalog is a Catalog held in memory, for tests and examples.
type MapCatalog map[string]Mitigation

// Mitigation implements Catalog.
func (m MapCatalog) Mitigation(cve string) (Mitigation, error) {
	if mit, ok := m[cve]; ok {
		return mit, nil
	}
	return Mitigation{}, ErrUnknownCVE
}
