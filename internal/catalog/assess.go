package catalog

import (
	"fmt"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// Facts is what Assess needs to know about a host. The CLI reads them from
// /proc and /sys; tests give fixed answers.
type Facts interface {
	// KernelVersion is the running kernel's upstream version and where
	// it was read, or an error if it cannot be told.
	KernelVersion() (Version, string, error)
	// Config is the kernel configuration; nil if unknown.
	Config() map[string]string
	// HasFunction reports whether kallsyms has a function of that name.
	HasFunction(name string) bool
	// ModuleLoaded reports whether a module is loaded.
	ModuleLoaded(name string) bool
	// BPFOverride reports whether engagebpf can work: the kernel has
	// BPF override and the entry's object and the helper are installed.
	BPFOverride(e *Entry) (object string, ok bool)
}

// VersionVerdict is the outcome of the version check.
type VersionVerdict string

// Version verdicts.
const (
	VersionAffected VersionVerdict = "affected"
	VersionFixed    VersionVerdict = "not-affected"
	VersionUnknown  VersionVerdict = "unknown"
)

// Verdict is an entry's overall outcome on a host.
type Verdict string

// Verdicts, from best to worst for the operator.
const (
	// Applies: affected (or unknown) and every target can be engaged.
	Applies Verdict = "applies"
	// NotAffected: the kernel version or config is outside the ranges.
	NotAffected Verdict = "not-affected"
	// NeedsModule: a module holding a target is not loaded.
	NeedsModule Verdict = "needs-module"
	// SymbolAbsent: a target is not in this kernel.
	SymbolAbsent Verdict = "symbol-absent"
	// NoMitigation: the entry has verb none.
	NoMitigation Verdict = "no-mitigation"
)

// TargetState is one target on the host.
type TargetState struct {
	Symbol string `json:"symbol"`
	// Name is the name kallsyms has (Symbol or an alternative); empty
	// when absent.
	Name    string `json:"name,omitempty"`
	Retval  int64  `json:"retval"`
	Present bool   `json:"present"`
	// Module holds the target per the catalog; MissingModule is set when
	// it is not loaded.
	Module        string `json:"module,omitempty"`
	MissingModule string `json:"missing_module,omitempty"`
	// Reviewed is what the catalog recorded for this kernel series.
	Reviewed *Presence `json:"reviewed,omitempty"`
}

// Assessment is an entry judged against a host.
type Assessment struct {
	Entry         *Entry         `json:"-"`
	ID            string         `json:"id"`
	Verdict       Verdict        `json:"verdict"`
	Version       string         `json:"kernel_version,omitempty"`
	VersionSource string         `json:"kernel_version_source,omitempty"`
	VersionCheck  VersionVerdict `json:"version_check"`
	// Reasons explain the verdict, for people.
	Reasons []string      `json:"reasons,omitempty"`
	Targets []TargetState `json:"targets,omitempty"`
	// Mechanism is "native" (the module's own override, with filters if
	// the entry has them) or "bpf" (engagebpf).
	Mechanism string `json:"mechanism,omitempty"`
	// Commands are the control lines that apply the entry.
	Commands []ksfs.Command `json:"-"`
	Lines    []string       `json:"control_lines,omitempty"`
}

// Assess judges e on the host f describes. probe, if not negative,
// replaces the entry's probe window (tests use short ones).
func Assess(e *Entry, f Facts, probe time.Duration) *Assessment {
	a := &Assessment{Entry: e, ID: e.ID, VersionCheck: VersionUnknown}
	a.checkVersion(f)

	if e.Verb == VerbNone {
		a.Verdict = NoMitigation
		a.Reasons = append(a.Reasons, "no function can be switched off for it: "+e.WhyNone)
		return a
	}

	series := ""
	if v, _, err := f.KernelVersion(); err == nil {
		series = v.Series().String()
	}
	absent, missing := false, false
	for _, t := range e.Targets {
		ts := TargetState{Symbol: t.Symbol, Retval: t.Retval, Module: t.Module}
		if p, ok := t.Kernels[series]; ok {
			ts.Reviewed = &p
		}
		if t.Module != "" && !f.ModuleLoaded(t.Module) {
			ts.MissingModule = t.Module
			missing = true
			a.Reasons = append(a.Reasons, fmt.Sprintf("%s is in module %s, which is not loaded", t.Symbol, t.Module))
			a.Targets = append(a.Targets, ts)
			continue
		}
		for _, name := range t.Names() {
			if f.HasFunction(name) {
				ts.Name, ts.Present = name, true
				break
			}
		}
		if !ts.Present {
			absent = true
			why := "no function " + t.Symbol + " in kallsyms"
			if ts.Reviewed != nil && !ts.Reviewed.Present {
				why += " (" + ts.Reviewed.Why + ": " + ts.Reviewed.Detail + ")"
			}
			a.Reasons = append(a.Reasons, why)
		}
		a.Targets = append(a.Targets, ts)
	}

	a.plan(f, probe)
	switch {
	case a.VersionCheck == VersionFixed:
		a.Verdict = NotAffected
	case absent:
		a.Verdict = SymbolAbsent
	case missing:
		a.Verdict = NeedsModule
	default:
		a.Verdict = Applies
	}
	return a
}

func (a *Assessment) checkVersion(f Facts) {
	e := a.Entry
	v, src, err := f.KernelVersion()
	if err != nil {
		a.Reasons = append(a.Reasons, "kernel version unknown: "+err.Error()+"; treated as affected")
	} else {
		a.Version, a.VersionSource = v.String(), src
		switch affected, known := e.AffectedAt(v); {
		case !known:
			a.Reasons = append(a.Reasons, "the catalog has no affected versions for it ("+e.Ambiguous+"); treated as affected")
		case affected:
			a.VersionCheck = VersionAffected
			a.Reasons = append(a.Reasons, fmt.Sprintf("kernel %s is in an affected range (%s)", v, strings.Join(e.Affected, ", ")))
		default:
			a.VersionCheck = VersionFixed
			a.Reasons = append(a.Reasons, fmt.Sprintf("kernel %s is outside the affected ranges (%s)", v, strings.Join(e.Affected, ", ")))
		}
	}
	if a.VersionCheck == VersionFixed || len(e.RequiresConfig) == 0 {
		return
	}
	cfg := f.Config()
	if cfg == nil {
		a.Reasons = append(a.Reasons, "kernel config unknown: cannot tell whether "+strings.Join(e.RequiresConfig, ", ")+" is set; treated as affected")
		return
	}
	for _, opt := range e.RequiresConfig {
		if cfg[opt] != "y" && cfg[opt] != "m" {
			a.VersionCheck = VersionFixed
			a.Reasons = append(a.Reasons, "the kernel is built without "+opt+", which the bug needs")
			return
		}
	}
}

// plan picks the mechanism and builds the control lines.
func (a *Assessment) plan(f Facts, probe time.Duration) {
	e := a.Entry
	a.Mechanism = "native"
	if e.Verb == VerbEngageBPF {
		if obj, ok := f.BPFOverride(e); ok {
			a.Mechanism = "bpf"
			for _, t := range a.Targets {
				a.add(ksfs.EngageBPF(t.name(), obj))
			}
			return
		}
		a.Reasons = append(a.Reasons, "no BPF override here: engaging with the native filter "+e.Filter+" instead of "+e.BPFObject)
	}
	window := time.Duration(e.ProbeSeconds) * time.Second
	if probe >= 0 {
		window = probe
	}
	for _, t := range a.Targets {
		if e.Verb == VerbTryEngage && window > 0 {
			a.add(ksfs.TryEngage(t.name(), t.Retval, window, e.filters...))
		} else {
			a.add(ksfs.Engage(t.name(), t.Retval, e.filters...))
		}
	}
}

func (a *Assessment) add(c ksfs.Command) {
	a.Commands = append(a.Commands, c)
	a.Lines = append(a.Lines, c.String())
}

// name is the symbol to engage: the one kallsyms has, else the catalog's.
func (t TargetState) name() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Symbol
}
