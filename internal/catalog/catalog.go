package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/killswitch/killswitch/internal/ksfs"
)

//go:embed mitigations.yaml
var embedded []byte

// Verb says how an entry is applied.
type Verb string

// The verbs of a catalog entry.
const (
	// VerbEngage engages every target at once.
	VerbEngage Verb = "engage"
	// VerbTryEngage probes every target for ProbeSeconds first; a target
	// that is called meanwhile is left alone.
	VerbTryEngage Verb = "tryengage"
	// VerbEngageBPF attaches the entry's BPF program where the kernel has
	// BPF override, and otherwise engages with the native filter.
	VerbEngageBPF Verb = "engagebpf"
	// VerbNone: no function can be switched off safely (WhyNone says why).
	VerbNone Verb = "none"
)

// Why a symbol is absent from a kernel.
const (
	AbsentFeature  = "feature-absent" // the kernel predates the code
	AbsentRenamed  = "renamed"        // the code is there under another name
	AbsentInlined  = "inlined"        // static and inlined into its callers
	AbsentClone    = "clone"          // only a GCC clone (.part, .isra, ...) exists
	AbsentNotBuilt = "not-built"      // the distribution's config leaves it out
	AbsentFixed    = "fixed-away"     // the fix removed or renamed it
)

var absentReasons = []string{AbsentFeature, AbsentRenamed, AbsentInlined, AbsentClone, AbsentNotBuilt, AbsentFixed}

// Presence records whether a target exists in a reviewed kernel.
type Presence struct {
	Present bool `yaml:"present" json:"present"`
	// As is the alternative name it exists under, if not the symbol's own.
	As string `yaml:"as,omitempty" json:"as,omitempty"`
	// Module holds it; empty for vmlinux.
	Module string `yaml:"module,omitempty" json:"module,omitempty"`
	// Why it is absent: one of the Absent* reasons.
	Why    string `yaml:"why,omitempty" json:"why,omitempty"`
	Detail string `yaml:"detail,omitempty" json:"detail,omitempty"`
}

// Target is one function an entry engages.
type Target struct {
	Symbol string `yaml:"symbol" json:"symbol"`
	// Alternatives are other names of the same function in other
	// kernels; the first name kallsyms has is engaged.
	Alternatives []string `yaml:"alternatives,omitempty" json:"alternatives,omitempty"`
	Retval       int64    `yaml:"retval" json:"retval"`
	// Returns is the C return type, as reviewed in the source.
	Returns string `yaml:"returns" json:"returns"`
	// Module holds the function; empty for vmlinux.
	Module string `yaml:"module,omitempty" json:"module,omitempty"`
	// Kernels maps a reviewed kernel series ("6.1") to what was found.
	Kernels map[string]Presence `yaml:"kernels" json:"kernels"`
}

// Names are the symbol and its alternatives, in order of preference.
func (t Target) Names() []string { return append([]string{t.Symbol}, t.Alternatives...) }

// Void reports whether the function returns nothing: engaging it only
// skips its body, which the review found to be the mitigation.
func (t Target) Void() bool { return t.Returns == "void" }

// Entry is one CVE's reviewed mitigation.
type Entry struct {
	ID      string   `yaml:"id" json:"id"`
	Name    string   `yaml:"name,omitempty" json:"name,omitempty"`
	Summary string   `yaml:"summary" json:"summary"`
	Verb    Verb     `yaml:"verb" json:"verb"`
	Targets []Target `yaml:"targets,omitempty" json:"targets,omitempty"`
	// Filter holds the caller filters in control grammar ("uid!=0").
	Filter       string `yaml:"filter,omitempty" json:"filter,omitempty"`
	ProbeSeconds int    `yaml:"probe_seconds,omitempty" json:"probe_seconds,omitempty"`
	// Modules must be loaded for the targets to exist.
	Modules []string `yaml:"modules,omitempty" json:"modules,omitempty"`
	// BPFObject is the engagebpf program, a file name in mitigations/.
	BPFObject string   `yaml:"bpf_object,omitempty" json:"bpf_object,omitempty"`
	FixCommit string   `yaml:"fix_commit,omitempty" json:"fix_commit,omitempty"`
	FixedIn   []string `yaml:"fixed_in,omitempty" json:"fixed_in,omitempty"`
	// Affected holds the version ranges; a kernel in any is affected. No
	// ranges means unknown.
	Affected     []string `yaml:"affected" json:"affected"`
	AffectedText string   `yaml:"affected_text,omitempty" json:"affected_text,omitempty"`
	// Ambiguous says what the ranges could not capture.
	Ambiguous string `yaml:"ambiguous,omitempty" json:"ambiguous,omitempty"`
	// RequiresConfig lists kernel options without which the kernel is not
	// affected (CONFIG_PREEMPT_RT).
	RequiresConfig []string `yaml:"requires_config,omitempty" json:"requires_config,omitempty"`
	// Effect says what stops working and what keeps working.
	Effect  string `yaml:"effect" json:"effect"`
	WhyNone string `yaml:"why_none,omitempty" json:"why_none,omitempty"`
	// Guard names a guard rail of the module that refuses a target.
	Guard    string   `yaml:"guard,omitempty" json:"guard,omitempty"`
	Notes    []string `yaml:"notes,omitempty" json:"notes,omitempty"`
	Reviewed string   `yaml:"reviewed" json:"reviewed"`

	ranges  []Range
	filters []ksfs.Filter
}

// Ranges are the parsed Affected ranges.
func (e *Entry) Ranges() []Range { return e.ranges }

// Filters are the parsed caller filters.
func (e *Entry) Filters() []ksfs.Filter { return e.filters }

// Title is the id with the entry's name, if it has one.
func (e *Entry) Title() string {
	if e.Name != "" {
		return e.ID + " (" + e.Name + ")"
	}
	return e.ID
}

// Catalog is a validated set of entries.
type Catalog struct {
	entries []*Entry
	byID    map[string]*Entry
}

// Load parses and validates the embedded catalog.
func Load() (*Catalog, error) {
	return Parse(embedded)
}

// Parse parses and validates a catalog in the mitigations.yaml format.
func Parse(data []byte) (*Catalog, error) {
	var doc struct {
		Entries []*Entry `yaml:"entries"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse mitigation catalog: %w", err)
	}
	c := &Catalog{byID: make(map[string]*Entry)}
	var errs []error
	for i, e := range doc.Entries {
		if e == nil {
			// "- " with nothing after it decodes to a nil entry.
			errs = append(errs, fmt.Errorf("entry %d is empty: write its fields (id, summary, verb, ...) or remove the dash", i+1))
			continue
		}
		if err := e.validate(); err != nil {
			errs = append(errs, fmt.Errorf("entry %d (%s): %w", i+1, e.ID, err))
			continue
		}
		if c.byID[e.ID] != nil {
			errs = append(errs, fmt.Errorf("entry %d: %s is listed twice", i+1, e.ID))
			continue
		}
		c.byID[e.ID] = e
		c.entries = append(c.entries, e)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mitigation catalog: %w", errors.Join(errs...))
	}
	return c, nil
}

// Entries returns the entries in catalog order.
func (c *Catalog) Entries() []*Entry { return slices.Clone(c.entries) }

// Lookup finds an entry by CVE id, case-insensitively.
func (c *Catalog) Lookup(id string) (*Entry, error) {
	if e := c.byID[strings.ToUpper(strings.TrimSpace(id))]; e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("%s is not in the mitigation catalog (killswitch mitigations list shows the %d it has)", id, len(c.entries))
}

func (e *Entry) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !validID(e.ID) {
		bad("id %q is not CVE-YYYY-NNNN", e.ID)
	}
	if strings.TrimSpace(e.Summary) == "" {
		bad("summary is empty")
	}
	if strings.TrimSpace(e.Effect) == "" {
		bad("effect is empty: say what stops working and what keeps working")
	}
	if strings.TrimSpace(e.Reviewed) == "" {
		bad("reviewed is empty: say what the entry was checked against")
	}
	switch e.Verb {
	case VerbEngage, VerbTryEngage, VerbEngageBPF:
		if len(e.Targets) == 0 {
			bad("verb %s needs targets", e.Verb)
		}
		if e.WhyNone != "" {
			bad("why_none is for verb none")
		}
	case VerbNone:
		if len(e.Targets) != 0 {
			bad("verb none takes no targets")
		}
		if strings.TrimSpace(e.WhyNone) == "" {
			bad("verb none needs why_none")
		}
	default:
		bad("verb %q: want engage, tryengage, engagebpf or none", e.Verb)
	}
	if e.Verb == VerbTryEngage {
		if e.ProbeSeconds < 0 || e.ProbeSeconds > int(ksfs.MaxProbe.Seconds()) {
			bad("probe_seconds %d: want 0..%d", e.ProbeSeconds, int(ksfs.MaxProbe.Seconds()))
		}
	} else if e.ProbeSeconds != 0 {
		bad("probe_seconds is for tryengage")
	}
	if e.Verb == VerbEngageBPF {
		if e.BPFObject == "" || !strings.HasSuffix(e.BPFObject, ".bpf.o") || strings.Contains(e.BPFObject, "/") {
			bad("engagebpf needs bpf_object, a file name ending in .bpf.o")
		}
		if e.Filter == "" {
			bad("engagebpf needs the filter that stands in for the program where the kernel lacks BPF override")
		}
	} else if e.BPFObject != "" {
		bad("bpf_object is for engagebpf")
	}

	filters, err := ksfs.ParseFilters(e.Filter)
	if err != nil {
		bad("filter: %w", err)
	}
	e.filters = filters
	for _, t := range e.Targets {
		for _, name := range t.Names() {
			if err := ksfs.ValidateSymbol(name); err != nil {
				bad("target: %w", err)
			}
		}
		if strings.TrimSpace(t.Returns) == "" {
			bad("target %s: returns is empty (the C return type, from the source)", t.Symbol)
		}
		if t.Void() && t.Retval != 0 {
			bad("target %s returns void: its retval must be 0", t.Symbol)
		}
		if strings.HasSuffix(t.Returns, "*") && t.Retval != 0 && (t.Retval > 0 || t.Retval < -ksfs.MaxErrno) {
			bad("target %s returns a pointer: retval %d is neither NULL nor an errno", t.Symbol, t.Retval)
		}
		if t.Returns == "bool" && t.Retval != 0 && t.Retval != 1 {
			bad("target %s returns bool: retval %d is neither 0 nor 1", t.Symbol, t.Retval)
		}
		if len(t.Kernels) == 0 {
			bad("target %s: kernels is empty (record where the symbol was checked)", t.Symbol)
		}
		for k, p := range t.Kernels {
			if _, err := ParseVersion(k); err != nil {
				bad("target %s: kernels: %w", t.Symbol, err)
			}
			if p.Present && p.Why != "" {
				bad("target %s on %s: present, yet why says %q", t.Symbol, k, p.Why)
			}
			if !p.Present && !slices.Contains(absentReasons, p.Why) {
				bad("target %s on %s: absent, why %q is not one of %s", t.Symbol, k, p.Why, strings.Join(absentReasons, ", "))
			}
			if !p.Present && strings.TrimSpace(p.Detail) == "" {
				bad("target %s on %s: absent without detail", t.Symbol, k)
			}
		}
	}
	for _, m := range e.Modules {
		if m == "" || strings.ContainsAny(m, " /") {
			bad("module %q is not a module name", m)
		}
	}
	if len(e.Affected) == 0 && e.Ambiguous == "" {
		bad("affected is empty: give ranges, or say in ambiguous why there are none")
	}
	e.ranges = nil
	for _, s := range e.Affected {
		r, err := ParseRange(s)
		if err != nil {
			bad("affected: %w", err)
			continue
		}
		e.ranges = append(e.ranges, r)
	}
	for _, f := range e.FixedIn {
		v, err := ParseVersion(f)
		if err != nil {
			bad("fixed_in: %w", err)
			continue
		}
		for _, r := range e.ranges {
			if r.Contains(v) {
				bad("fixed_in %s is inside the affected range %s", f, r)
			}
		}
	}
	for _, c := range e.RequiresConfig {
		if !strings.HasPrefix(c, "CONFIG_") {
			bad("requires_config %q: want CONFIG_*", c)
		}
	}
	return errors.Join(errs...)
}

func validID(id string) bool {
	rest, ok := strings.CutPrefix(id, "CVE-")
	if !ok || len(rest) < 10 || rest[4] != '-' {
		return false
	}
	for i, c := range rest {
		if i != 4 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// AffectedAt reports whether kernel version v is in one of the entry's
// ranges; known is false when the entry has no ranges.
func (e *Entry) AffectedAt(v Version) (affected, known bool) {
	if len(e.ranges) == 0 {
		return false, false
	}
	for _, r := range e.ranges {
		if r.Contains(v) {
			return true, true
		}
	}
	return false, true
}
