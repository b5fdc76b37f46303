package agent

import (
	"log/slog"
	"sort"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
)

// TargetState is where one target of the policy stands on this host.
type TargetState string

// Target states, as the policy_entry_state metric and the logs name them.
const (
	// In place, made by the agent.
	StateEngaged   TargetState = "engaged"
	StateProbing   TargetState = "probing"
	StateObserving TargetState = "observing"
	// StateHeld: in place as the policy wants, but made by someone else
	// (an operator, the engage= module parameter); the agent leaves it
	// and will not disengage it.
	StateHeld TargetState = "held"
	// StateConflict: someone else engaged the symbol differently; the
	// entry's adopt: true lets the agent take it over.
	StateConflict TargetState = "conflict"
	// StateRefused: pre-flight or the kernel refused the engagement.
	StateRefused TargetState = "refused"
	// StateWaiting: the target's module, or killswitch itself, is not
	// loaded; the agent engages as soon as it is.
	StateWaiting TargetState = "waiting"
	// StateAborted: the module aborted the tryengage because the
	// function was called during the probe.
	StateAborted TargetState = "aborted"
	// StateFailed: anything else that went wrong.
	StateFailed TargetState = "failed"
	// Entries that do not apply here.
	StateExpired     TargetState = "expired"
	StateNotSelected TargetState = "not-selected"
	StateFixed       TargetState = "fixed"
)

// AllTargetStates lists the states, for metrics that export each.
var AllTargetStates = []TargetState{
	StateEngaged, StateProbing, StateObserving, StateHeld, StateConflict, StateRefused,
	StateWaiting, StateAborted, StateFailed, StateExpired, StateNotSelected, StateFixed,
}

// problem reports whether the state needs an operator.
func (s TargetState) problem() bool {
	switch s {
	case StateConflict, StateRefused, StateAborted, StateFailed:
		return true
	}
	return false
}

func (s TargetState) level() slog.Level {
	switch {
	case s.problem():
		return slog.LevelError
	case s == StateWaiting || s == StateHeld:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func fromModule(s ksfs.State) TargetState {
	switch s {
	case ksfs.StateProbing:
		return StateProbing
	case ksfs.StateObserving:
		return StateObserving
	}
	return StateEngaged
}

func fromSkip(r policy.SkipReason) TargetState {
	switch r {
	case policy.SkipExpired:
		return StateExpired
	case policy.SkipFixed:
		return StateFixed
	}
	return StateNotSelected
}

// Status is one target's standing after a reconcile.
type Status struct {
	Entry  string
	Symbol string
	State  TargetState
	// Reason says why, for states other than the plain in-place ones.
	Reason string
}

type statusKey struct{ entry, symbol string }

// statusSet is a reconcile's outcome per target.
type statusSet map[statusKey]Status

func (s statusSet) set(st Status) { s[statusKey{st.Entry, st.Symbol}] = st }

// sorted lists the statuses by entry and symbol.
func (s statusSet) sorted() []Status {
	out := make([]Status, 0, len(s))
	for _, st := range s {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Entry != out[j].Entry {
			return out[i].Entry < out[j].Entry
		}
		return out[i].Symbol < out[j].Symbol
	})
	return out
}
