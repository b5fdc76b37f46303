package preflight

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/cilium/ebpf/btf"
)

// GuardTarget is a kernel function the guard rails cover as a check,
// with the retvals the module must refuse for it. The fail-open values
// come from the function's BTF return type, not from its rule, so a rule
// that judges a bool as an errno check (or the reverse) shows up as a
// fail-open value the module accepts.
type GuardTarget struct {
	Name    string
	Rule    GuardRule
	Returns string // "int", "bool", "unsigned int", "void", ...

	// FailOpen are retvals that allow, or may allow, at the width
	// callers read: for an int 0, positives and values whose low 32 bits
	// are 0; for a bool anything whose low 8 bits are not 0. Rules that
	// accept nothing add 0 and -1.
	FailOpen []int64
	// FailClosed is a retval the rule accepts (-1 for errno checks, 0
	// for yes/no ones); HasFailClosed is false when it accepts none.
	FailClosed    int64
	HasFailClosed bool
}

// retKind sorts a return type for the guard: "bool", "int" (signed, any
// width), "unsigned" (an unsigned integer or enum: it cannot hold an
// errno) or "other" (void, pointers, structs).
func retKind(t btf.Type) string {
	switch v := btf.UnderlyingType(t).(type) {
	case *btf.Int:
		switch {
		case v.Encoding == btf.Bool:
			return "bool"
		case v.Encoding == btf.Signed:
			return "int"
		}
		return "unsigned"
	case *btf.Enum:
		if v.Signed {
			return "int"
		}
		return "unsigned"
	}
	return "other"
}

// GuardTargets lists every function in spec that a check rule (integrity,
// errno, yesno or either) covers and that returns an integer or a bool,
// or, for the integrity rules, anything. A name that BTF holds more than
// once (static functions) is listed once, with every return type's
// fail-open values. Sorted by name.
func GuardTargets(spec *btf.Spec) ([]GuardTarget, error) {
	byName := map[string]*GuardTarget{}
	for typ, err := range spec.All() {
		if err != nil {
			return nil, fmt.Errorf("read BTF: %w", err)
		}
		fn, ok := typ.(*btf.Func)
		if !ok {
			continue
		}
		rule, ok := GuardRuleFor(fn.Name)
		if !ok || rule.Class == GuardHazard {
			continue
		}
		proto, ok := fn.Type.(*btf.FuncProto)
		if !ok {
			continue
		}
		kind := retKind(proto.Return)
		if kind == "other" && rule.Class != GuardIntegrity {
			continue
		}
		t := byName[fn.Name]
		if t == nil {
			t = &GuardTarget{Name: fn.Name, Rule: rule, Returns: cType(proto.Return)}
			switch rule.Class {
			case GuardErrno:
				t.FailClosed, t.HasFailClosed = -1, true
			case GuardYesNo:
				t.FailClosed, t.HasFailClosed = 0, true
			default:
				t.FailOpen = append(t.FailOpen, 0, -1)
			}
			byName[fn.Name] = t
		} else if r := cType(proto.Return); r != t.Returns {
			t.Returns += " or " + r
		}
		t.FailOpen = append(t.FailOpen, failOpen(kind)...)
	}
	out := make([]GuardTarget, 0, len(byName))
	for _, t := range byName {
		slices.Sort(t.FailOpen)
		t.FailOpen = slices.Compact(t.FailOpen)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// failOpen returns the retvals that may allow for a return kind.
func failOpen(kind string) []int64 {
	switch kind {
	case "bool":
		// true, and values whose low 8 bits are not 0 however the
		// upper ones read: -1, 0x1_0000_0001 and -0xffff_ffff.
		return []int64{1, -1, 0x1_0000_0001, -0xffff_ffff}
	case "int":
		// 0 and positives allow an errno check; -0x1_0000_0000 and
		// MinInt64 are negative as 64 bits but 0 as 32.
		return []int64{0, 1, 0x1_0000_0000, -0x1_0000_0000, math.MinInt64}
	case "unsigned":
		// No unsigned value is an errno: -1 reads as a large
		// positive number.
		return []int64{0, 1, -1, -0x1_0000_0000}
	}
	return nil
}
