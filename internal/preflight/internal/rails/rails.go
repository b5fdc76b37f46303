// Package rails reads kernel/guard.rails, the one source of the guard
// rails, and renders the two tables built from it: the module's
// kernel/ks_guard_rails.h and pre-flight's guard_rails.go. The file's own
// header describes the format.
package rails

import (
	"bufio"
	"bytes"
	"fmt"
	"go/format"
	"strings"
)

// Rule is one pattern of the file, in file order.
type Rule struct {
	Pattern string
	Class   string // hazard, integrity, errno, yesno or either
	What    string // for log lines: "an allocator"
}

// Classes maps the file's class names to the C and Go constants.
var Classes = map[string]struct{ C, Go string }{
	"hazard":    {"KS_RAIL_HAZARD", "GuardHazard"},
	"integrity": {"KS_RAIL_INTEGRITY", "GuardIntegrity"},
	"errno":     {"KS_RAIL_ERRNO", "GuardErrno"},
	"yesno":     {"KS_RAIL_YESNO", "GuardYesNo"},
	"either":    {"KS_RAIL_EITHER", "GuardEither"},
}

// Parse reads the rules. name is for error messages.
func Parse(name string, src []byte) ([]Rule, error) {
	var rules []Rule
	var class, what string
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if hdr, ok := strings.CutPrefix(line, "["); ok {
			hdr, ok = strings.CutSuffix(hdr, "]")
			c, w, _ := strings.Cut(hdr, " ")
			w = strings.TrimSpace(w)
			if _, known := Classes[c]; !ok || !known || w == "" || strings.ContainsAny(w, `"\`) {
				return nil, fmt.Errorf("%s:%d: expected [<class> <what>] with a class of hazard, integrity, errno, yesno or either, and no quote or backslash: %q", name, n, line)
			}
			class, what = c, w
			continue
		}
		if class == "" {
			return nil, fmt.Errorf("%s:%d: pattern before the first [<class> <what>] header", name, n)
		}
		for _, p := range strings.Fields(line) {
			if !validPattern(p) {
				return nil, fmt.Errorf("%s:%d: pattern %q: only letters, digits, '_' and '*' are allowed", name, n, p)
			}
			if first, dup := seen[p]; dup {
				return nil, fmt.Errorf("%s:%d: pattern %q already on line %d", name, n, p, first)
			}
			seen[p] = n
			rules = append(rules, Rule{Pattern: p, Class: class, What: what})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%s: no rules", name)
	}
	return rules, nil
}

func validPattern(p string) bool {
	for _, c := range p {
		if !(c == '_' || c == '*' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return p != "" && p != "*"
}

const generated = "Generated from kernel/guard.rails by \"go generate ./internal/preflight\""

// C renders kernel/ks_guard_rails.h: the rules as ks_guard.c's table.
func C(rules []Rule) []byte {
	var b bytes.Buffer
	b.WriteString("/* SPDX-License-Identifier: GPL-2.0 */\n/*\n * " + generated + ":\n")
	b.WriteString(" * do not edit.  Included once, by ks_guard.c, which defines struct\n")
	b.WriteString(" * ks_rail; the first pattern that matches a symbol's base name decides.\n */\n")
	b.WriteString("static const struct ks_rail ks_rails[] = {\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "\t{ \"%s\", %s, \"%s\" },\n", r.Pattern, Classes[r.Class].C, r.What)
	}
	b.WriteString("};\n")
	return b.Bytes()
}

// Go renders internal/preflight/guard_rails.go: the same table for Go.
func Go(rules []Rule) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated from kernel/guard.rails by \"go generate ./internal/preflight\"; DO NOT EDIT.\n\n")
	b.WriteString("package preflight\n\n")
	b.WriteString("// guardRails are the module's rules (kernel/ks_guard_rails.h), in order:\n")
	b.WriteString("// the first pattern that matches a symbol's base name decides.\n")
	b.WriteString("var guardRails = []GuardRule{\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "\t{%q, %s, %q},\n", r.Pattern, Classes[r.Class].Go, r.What)
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
