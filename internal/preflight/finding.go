package preflight

import (
	"encoding/json"
	"fmt"
)

// Verdict grades a finding or a whole report. Higher is worse.
type Verdict int

const (
	// Skip: the check could not run (file missing or unreadable); it does
	// not count towards the report's verdict.
	Skip Verdict = iota
	// OK: nothing to worry about.
	OK
	// Warn: allowed, but the operator should read why.
	Warn
	// Refuse: engaging would be wrong, or the kernel would refuse it.
	Refuse
)

var verdictNames = [...]string{Skip: "skip", OK: "ok", Warn: "warn", Refuse: "refuse"}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return verdictNames[v]
}

// MarshalText renders the verdict's name in JSON.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses a verdict's name.
func (v *Verdict) UnmarshalText(b []byte) error {
	for i, n := range verdictNames {
		if n == string(b) {
			*v = Verdict(i)
			return nil
		}
	}
	return fmt.Errorf("unknown verdict %q", b)
}

// Finding is one fact about a symbol or the host.
type Finding struct {
	// Check names what was looked at: "kallsyms", "btf", "retval", ...
	Check   string  `json:"check"`
	Verdict Verdict `json:"verdict"`
	// Message names the thing and the reason.
	Message string `json:"message"`
	// Fix is the way out, if there is one.
	Fix string `json:"fix,omitempty"`
	// Forceable refusals are the CLI's own judgement and yield to
	// --force; the others the kernel would refuse anyway.
	Forceable bool `json:"forceable,omitempty"`
}

func (f Finding) String() string {
	if f.Fix == "" {
		return f.Message
	}
	return f.Message + " (" + f.Fix + ")"
}

// Report is the outcome of Check.
type Report struct {
	Symbol string `json:"symbol"`
	// Retval is the value checked, nil if none was given.
	Retval *int64 `json:"retval,omitempty"`
	// Verdict is the worst finding's.
	Verdict Verdict `json:"verdict"`
	// Module holds the symbol; empty for vmlinux or if unknown.
	Module string `json:"module,omitempty"`
	// MissingModule is a module that must be loaded before the symbol
	// can be engaged.
	MissingModule string `json:"missing_module,omitempty"`
	// Prototype is the C prototype from BTF, if known.
	Prototype string `json:"prototype,omitempty"`
	// Int32Args are the arguments (1-based) that BTF gives 32 bits or
	// fewer (int, unsigned int, enum): a filter on one compares only the
	// low half of its register (arg<N>:32), since the upper half is
	// whatever the caller left there.
	Int32Args []int     `json:"int32_args,omitempty"`
	Findings  []Finding `json:"findings"`
}

// Int32Arg reports whether argument n (1-based) is 32 bits or narrower.
func (r *Report) Int32Arg(n int) bool {
	for _, a := range r.Int32Args {
		if a == n {
			return true
		}
	}
	return false
}

func (r *Report) add(f Finding) {
	r.Findings = append(r.Findings, f)
	if f.Verdict > r.Verdict {
		r.Verdict = f.Verdict
	}
}

// Refusals returns the findings that refuse.
func (r *Report) Refusals() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Verdict == Refuse {
			out = append(out, f)
		}
	}
	return out
}

// MarshalJSON keeps Findings an array when empty.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	p := plain(*r)
	if p.Findings == nil {
		p.Findings = []Finding{}
	}
	return json.Marshal(p)
}
