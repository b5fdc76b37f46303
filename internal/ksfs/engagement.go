package ksfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is what the module does with calls to an engaged symbol.
type State string

// States as fn/<sym>/state shows them.
const (
	// StateEngaged: calls that pass the filters return Retval without
	// running the function.
	StateEngaged State = "engaged"
	// StateProbing: a tryengage window is open; calls are counted and run.
	StateProbing State = "probing"
	// StateObserving: calls are counted and their callers recorded, never
	// overridden.
	StateObserving State = "observing"
)

// Engagement is one function the module (or a BPF pin) holds.
type Engagement struct {
	Symbol string
	State  State
	Retval int64
	// Hits counts calls the filters selected: overridden while engaged,
	// counted only while probing or observing.
	Hits uint64
	// Passed counts calls the filters let through to the function.
	Passed uint64
	// Missed counts calls where the probe could not run (nested probe,
	// NMI) and the function ran: the override failed open.
	Missed uint64
	// TimeoutLeft is what remains of a tryengage window.
	TimeoutLeft time.Duration
	// Filter is the filter list as the module shows it ("uid!=0,arg1=38"),
	// empty without filters. Filters parses it.
	Filter string
	// Since is when the engagement was made, as time since boot; zero if
	// the module does not say.
	Since time.Duration
	// Extra holds key=value fields of the engaged line this package does
	// not know, so newer modules still show everything.
	Extra map[string]string
	// BPFPin is the bpffs pin of an engagebpf engagement; empty for the
	// module's own. A BPF engagement has no retval, counters or state of
	// its own: its program decides.
	BPFPin string
}

// Filters parses Filter.
func (e Engagement) Filters() ([]Filter, error) {
	return ParseFilters(e.Filter)
}

// ParseEngaged parses the content of the engaged file: one line per
// engagement, "<sym> retval=<v> hits=<n>" followed by optional key=value
// fields. Blank lines are skipped.
func ParseEngaged(data string) ([]Engagement, error) {
	var out []Engagement
	for n, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := ParseEngagedLine(line)
		if err != nil {
			return nil, fmt.Errorf("engaged line %d: %w", n+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// ParseEngagedLine parses one line of the engaged file.
//
// The symbol, retval= and hits= are required (the seed contract); passed=,
// missed=, state=, filter=, since= and timeout_left= are read when present,
// and unknown key=value fields are kept in Extra. A field without '=' is an
// error: it would mean the format changed in a way this parser cannot
// follow.
func ParseEngagedLine(line string) (Engagement, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return Engagement{}, errors.New("empty line")
	}
	e := Engagement{Symbol: fields[0], State: StateEngaged}
	if err := ValidateSymbol(e.Symbol); err != nil {
		return Engagement{}, err
	}

	var haveRetval, haveHits bool
	for _, f := range fields[1:] {
		key, value, ok := strings.Cut(f, "=")
		if !ok || key == "" {
			return Engagement{}, fmt.Errorf("%s: field %q is not key=value", e.Symbol, f)
		}
		var err error
		switch key {
		case "retval":
			e.Retval, err = ParseRetval(value)
			haveRetval = true
		case "hits":
			e.Hits, err = parseCount(value)
			haveHits = true
		case "passed":
			e.Passed, err = parseCount(value)
		case "missed":
			e.Missed, err = parseCount(value)
		case "state":
			e.State, err = ParseState(value)
		case "filter":
			if _, err = ParseFilters(value); err == nil {
				e.Filter = appendFilter(e.Filter, value)
			}
		case "since":
			e.Since, err = parseSeconds(value)
		case "timeout_left":
			e.TimeoutLeft, err = parseSeconds(value)
		default:
			if e.Extra == nil {
				e.Extra = make(map[string]string)
			}
			e.Extra[key] = value
		}
		if err != nil {
			return Engagement{}, fmt.Errorf("%s: field %s: %w", e.Symbol, key, err)
		}
	}
	if !haveRetval || !haveHits {
		return Engagement{}, fmt.Errorf("%s: line %q lacks retval= or hits=", e.Symbol, strings.TrimSpace(line))
	}
	return e, nil
}

func appendFilter(list, more string) string {
	if list == "" {
		return more
	}
	return list + "," + more
}

// ParseState parses fn/<sym>/state.
func ParseState(s string) (State, error) {
	switch st := State(strings.TrimSpace(s)); st {
	case StateEngaged, StateProbing, StateObserving:
		return st, nil
	default:
		return "", fmt.Errorf("unknown state %q (want engaged, probing or observing)", s)
	}
}

func parseCount(s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a count", s)
	}
	return n, nil
}

// parseSeconds reads a non-negative number of seconds, whole or with a
// fraction.
func parseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseUint(whole, 10, 32)
	if err != nil || (frac != "" && !allDigits(frac, 10)) {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	d := time.Duration(n) * time.Second
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		ns, _ := strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		d += time.Duration(ns)
	}
	return d, nil
}

// Caller is one recent caller of an observed or probed function.
type Caller struct {
	Comm string
	PID  int
	UID  uint32
}

// ParseCallers parses fn/<sym>/callers: one "comm pid uid" line per
// distinct caller. comm is whatever the task named itself and may contain
// spaces, so pid and uid are taken from the end of the line.
func ParseCallers(data string) ([]Caller, error) {
	var out []Caller
	for n, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		line = strings.TrimRight(line, " \t\r")
		i := strings.LastIndexAny(line, " \t")
		j := -1
		if i > 0 {
			j = strings.LastIndexAny(line[:i], " \t")
		}
		if j < 0 {
			return nil, fmt.Errorf("callers line %d %q: want <comm> <pid> <uid>", n+1, line)
		}
		pid, err1 := strconv.ParseInt(line[j+1:i], 10, 32)
		uid, err2 := strconv.ParseUint(line[i+1:], 10, 32)
		if err1 != nil || err2 != nil || pid < 0 {
			return nil, fmt.Errorf("callers line %d %q: want <comm> <pid> <uid>", n+1, line)
		}
		out = append(out, Caller{Comm: line[:j], PID: int(pid), UID: uint32(uid)})
	}
	return out, nil
}
