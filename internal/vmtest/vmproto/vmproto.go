// Package vmproto is the line protocol between ks-vminit, the PID 1 of a test
// VM, and the host harness that reads the VM's results channel.
//
// Suites print lines of three kinds on stdout:
//
//	1..N                               the plan, before any result
//	ok - <test name>
//	ok - <test name> # SKIP <reason>   not run, and why
//	not ok - <test name>: <reason>
//	# <free text>
//
// Every suite declares how many results it reports (TAP's plan): a suite
// that reports another number, none, or no plan fails (see Plan).
// ks-vminit forwards them, adds its own "# ks-vminit: ..." markers around
// suites and the kernel log dump, and ends with a summary line
// "N passed, M failed". The host parses the same lines with this package, so
// the two ends cannot drift apart.
package vmproto

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Markers that ks-vminit writes on the results channel. They are comments,
// so a reader that does not know them still parses the stream correctly.
const (
	markerPrefix = "# ks-vminit: "
	// KmsgBegin and KmsgEnd bracket the kernel log dump: lines between them
	// are kernel log records, not test results.
	KmsgBegin = markerPrefix + "kernel log begin"
	KmsgEnd   = markerPrefix + "kernel log end"
)

// Kind classifies one results-channel line.
type Kind int

const (
	// Other is anything that is not a result or a comment (stray output).
	Other Kind = iota
	// Pass is an "ok - name" line.
	Pass
	// Fail is a "not ok - name: reason" line.
	Fail
	// Comment is a "# ..." line, including ks-vminit's markers.
	Comment
	// PlanLine is a "1..N" line: the number of results a suite will report.
	PlanLine
)

// Line is one parsed results-channel line.
type Line struct {
	Kind Kind
	// Name is the test name of a Pass or Fail line.
	Name string
	// Reason is the text after the first ": " of a Fail line, if any.
	Reason string
	// Text is the line as received, without the trailing newline or CR.
	Text string
	// Skip is set on a Pass line carrying TAP's "# SKIP <reason>"
	// directive: the test did not run. SkipReason says why.
	Skip       bool
	SkipReason string
	// Planned is the N of a PlanLine.
	Planned int
}

// resultRE accepts the contract's "ok - name" and, leniently, TAP's
// numbered "ok 3 - name" and the bare "ok name".
var resultRE = regexp.MustCompile(`^(not )?ok\b(?:\s+\d+)?(?:\s*-)?\s*(.*)$`)

// planRE is TAP's plan; a "# SKIP ..." after it is allowed and ignored.
var planRE = regexp.MustCompile(`^1\.\.(\d+)\s*(?:#.*)?$`)

// skipRE is TAP's SKIP directive at the end of a result line.
var skipRE = regexp.MustCompile(`(?i)\s*#\s*skip\b:?\s*(.*)$`)

// Parse classifies a single line.
func Parse(text string) Line {
	text = strings.TrimRight(text, "\r\n")
	l := Line{Text: text}
	if m := planRE.FindStringSubmatch(text); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			l.Kind, l.Planned = PlanLine, n
			return l
		}
	}
	if strings.HasPrefix(text, "#") {
		l.Kind = Comment
		return l
	}
	m := resultRE.FindStringSubmatch(text)
	if m == nil {
		return l
	}
	l.Name = m[2]
	if m[1] == "" {
		l.Kind = Pass
		if sm := skipRE.FindStringSubmatchIndex(l.Name); sm != nil {
			l.Skip, l.SkipReason = true, l.Name[sm[2]:sm[3]]
			l.Name = l.Name[:sm[0]]
		}
		return l
	}
	l.Kind = Fail
	if name, reason, ok := strings.Cut(l.Name, ": "); ok {
		l.Name, l.Reason = name, reason
	}
	return l
}

// PassLine and FailLine format results the way suites must print them.
func PassLine(name string) string { return "ok - " + name }

// SkipLine formats a test that did not run, with the reason.
func SkipLine(name, reason string) string { return "ok - " + name + " # SKIP " + reason }

// PlanText formats a suite's plan: it will report n results.
func PlanText(n int) string { return fmt.Sprintf("1..%d", n) }

// FailLine formats a failed test with its reason.
func FailLine(name, reason string) string { return "not ok - " + name + ": " + reason }

// CommentLine formats free text as a comment; embedded newlines are folded
// so that the text cannot forge a result line.
func CommentLine(text string) string {
	return "# " + strings.ReplaceAll(text, "\n", "\n# ")
}

// SuiteStart is the marker ks-vminit prints before running a suite.
func SuiteStart(suite string) string { return markerPrefix + "suite " + suite }

// SuiteName returns the suite named by a SuiteStart marker.
func SuiteName(text string) (string, bool) {
	return strings.CutPrefix(strings.TrimRight(text, "\r\n"), markerPrefix+"suite ")
}

// Summary formats the final line of a run.
func Summary(passed, failed int) string {
	return fmt.Sprintf("%d passed, %d failed", passed, failed)
}

var summaryRE = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)

// ParseSummary parses a line written by Summary.
func ParseSummary(text string) (passed, failed int, ok bool) {
	m := summaryRE.FindStringSubmatch(strings.TrimRight(text, "\r\n"))
	if m == nil {
		return 0, 0, false
	}
	passed, err1 := strconv.Atoi(m[1])
	failed, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return passed, failed, true
}

// Tally counts results.
type Tally struct {
	Passed, Failed int
}

// Add counts l if it is a result and reports whether it was one.
func (t *Tally) Add(l Line) bool {
	switch l.Kind {
	case Pass:
		t.Passed++
	case Fail:
		t.Failed++
	default:
		return false
	}
	return true
}

func (t Tally) String() string { return Summary(t.Passed, t.Failed) }

// Plan checks one suite's output against the plan it declared. Feed it
// every line the suite printed (See), then ask Problems once the suite has
// exited. A suite fails when it printed no plan, a plan after its first
// result, more than one plan, or a number of results other than planned:
// a suite that exits early or skips silently cannot pass.
type Plan struct {
	planned int // -1 until a plan is seen
	plans   int
	late    bool
	results int
	skipped int
}

// NewPlan returns a checker for one suite.
func NewPlan() *Plan { return &Plan{planned: -1} }

// See records one line of the suite's output.
func (p *Plan) See(l Line) {
	switch l.Kind {
	case PlanLine:
		p.plans++
		if p.results > 0 {
			p.late = true
		}
		p.planned = l.Planned
	case Pass, Fail:
		p.results++
		if l.Skip {
			p.skipped++
		}
	}
}

// Skipped is the number of results that were skips.
func (p *Plan) Skipped() int { return p.skipped }

// Problems says what is wrong with the suite's output, nothing when it
// reported exactly what it planned.
func (p *Plan) Problems() []string {
	var out []string
	switch {
	case p.plans == 0:
		return []string{fmt.Sprintf("no plan (1..N) before its results; reported %d", p.results)}
	case p.plans > 1:
		out = append(out, fmt.Sprintf("%d plans, want one", p.plans))
	case p.late:
		out = append(out, "the plan came after results; print 1..N first")
	}
	if p.results != p.planned {
		out = append(out, fmt.Sprintf("planned %d results, reported %d", p.planned, p.results))
	}
	return out
}

// kmsgCompletePrefix starts a suite's proof that it read every kernel log
// record in a sequence range: ks-vminit then forgives records it lost in
// that range itself (the suite scanned them for kernel reports).
const kmsgCompletePrefix = "# ks-kmsg: complete "

// KmsgComplete formats the proof for records first..last.
func KmsgComplete(first, last uint64) string {
	return fmt.Sprintf("%s%d..%d", kmsgCompletePrefix, first, last)
}

// ParseKmsgComplete parses a KmsgComplete line.
func ParseKmsgComplete(text string) (first, last uint64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimRight(text, "\r\n"), kmsgCompletePrefix)
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "..")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseUint(a, 10, 64)
	last, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || first > last {
		return 0, 0, false
	}
	return first, last, true
}
