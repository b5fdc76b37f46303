// Package vmproto is the line protocol between ks-vminit, the PID 1 of a test
// VM, and the host harness that reads the VM's results channel.
//
// Suites print lines of three kinds on stdout:
//
//	ok - <test name>
//	not ok - <test name>: <reason>
//	# <free text>
//
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
}

// resultRE accepts the contract's "ok - name" and, leniently, TAP's
// numbered "ok 3 - name" and the bare "ok name".
var resultRE = regexp.MustCompile(`^(not )?ok\b(?:\s+\d+)?(?:\s*-)?\s*(.*)$`)

// Parse classifies a single line.
func Parse(text string) Line {
	text = strings.TrimRight(text, "\r\n")
	l := Line{Text: text}
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
