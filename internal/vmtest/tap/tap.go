// Package tap writes the result lines of the Go suites that run in the test
// VM (test/vm/README.md): "ok - <prefix>: <name>", "not ok - <prefix>:
// <name>: <reason>" and "# <text>", and the suite's closing count.
package tap

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

// Suite counts and prints one suite's results. Safe for concurrent use.
type Suite struct {
	name   string // e.g. 70-privilege, in the closing count
	prefix string // e.g. privilege, before every test name
	out    io.Writer

	mu         sync.Mutex
	pass, fail int
}

// New returns a suite printing to stdout, where the guest's init reads.
func New(name, prefix string) *Suite {
	return &Suite{name: name, prefix: prefix, out: os.Stdout}
}

// Plan prints the number of results the suite will report (TAP's
// "1..N"). Call it once, before the first result: the harness fails a
// suite that reports another number, so one that stops early or skips
// checks silently cannot pass.
func (s *Suite) Plan(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(s.out, vmproto.PlanText(n))
}

// Skip records a check that did not run, and why. On a kernel that must
// run everything (the guest's KS_NO_SKIP=1) the harness counts it as a
// failure.
func (s *Suite) Skip(what, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pass++
	fmt.Fprintln(s.out, vmproto.SkipLine(s.prefix+": "+what, fmt.Sprintf(format, args...)))
}

// Ok records a passing check.
func (s *Suite) Ok(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pass++
	fmt.Fprintln(s.out, vmproto.PassLine(s.prefix+": "+fmt.Sprintf(format, args...)))
}

// Nok records a failing check: what failed, and why.
func (s *Suite) Nok(what, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail++
	fmt.Fprintln(s.out, vmproto.FailLine(s.prefix+": "+what, fmt.Sprintf(format, args...)))
}

// Note prints a diagnostic line; it counts as neither.
func (s *Suite) Note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(s.out, vmproto.CommentLine(fmt.Sprintf(format, args...)))
}

// Counts returns the checks passed and failed so far.
func (s *Suite) Counts() (pass, fail int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pass, s.fail
}

// Done prints the closing count and returns the suite's exit status: 1
// when a check failed, 0 otherwise.
func (s *Suite) Done() int {
	pass, fail := s.Counts()
	s.Note("%s: %d passed, %d failed", s.name, pass, fail)
	if fail > 0 {
		return 1
	}
	return 0
}
