package policy

import (
	"fmt"
	"time"
)

// SkipReason says why an entry does not apply.
type SkipReason string

// Reasons an entry is skipped.
const (
	// SkipExpired: the entry's expiry has passed.
	SkipExpired SkipReason = "expired"
	// SkipKernel: the kernel selector does not match this kernel.
	SkipKernel SkipReason = "not-selected"
	// SkipFixed: the catalog says this kernel already has the fix.
	SkipFixed SkipReason = "fixed"
)

// Skipped is an entry that does not apply, and why.
type Skipped struct {
	Entry  string
	Reason SkipReason
	Detail string
}

// Selection is what a policy asks of one kernel at one time.
type Selection struct {
	// Targets are the engagements that apply, in policy order.
	Targets []Target
	// Skipped are the entries that do not apply.
	Skipped []Skipped
	// Next is the first expiry after now, when the selection changes by
	// itself; zero if none.
	Next time.Time
}

// Select picks what applies to k at now. Two applicable targets for one
// symbol are an error: nothing of the policy should then be applied.
func (p *Policy) Select(k Kernel, now time.Time) (*Selection, error) {
	s := &Selection{}
	owner := map[string]string{}
	for _, e := range p.Entries {
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			s.Skipped = append(s.Skipped, Skipped{Entry: e.Name, Reason: SkipExpired,
				Detail: "expired at " + e.Expires.UTC().Format(time.RFC3339)})
			continue
		}
		if ok, why := e.Kernel.Match(k); !ok {
			s.Skipped = append(s.Skipped, Skipped{Entry: e.Name, Reason: SkipKernel, Detail: why})
			continue
		}
		if e.fixed != nil && e.fixed(k) {
			s.Skipped = append(s.Skipped, Skipped{Entry: e.Name, Reason: SkipFixed,
				Detail: "kernel " + k.String() + " already has the fix for " + e.CVE})
			continue
		}
		if !e.Expires.IsZero() && (s.Next.IsZero() || e.Expires.Before(s.Next)) {
			s.Next = e.Expires
		}
		for _, t := range e.Targets {
			if other, dup := owner[t.Symbol]; dup {
				return nil, fmt.Errorf("entries %q and %q both engage %s on kernel %s: the policy is not applied (narrow their kernel selectors so only one applies)",
					other, e.Name, t.Symbol, k)
			}
			owner[t.Symbol] = e.Name
			s.Targets = append(s.Targets, t)
		}
	}
	return s, nil
}

// Entry returns the entry with this name.
func (p *Policy) Entry(name string) (Entry, bool) {
	for _, e := range p.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}
