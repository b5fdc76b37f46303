package vmtest

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

// printer serialises output lines from concurrent streams.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) Println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, s)
}

func (p *printer) Printf(format string, args ...any) {
	p.Println(fmt.Sprintf(format, args...))
}

// ansiRE matches terminal control sequences (the firmware clears the
// screen on the serial console); they are dropped from displayed lines.
var ansiRE = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|[c()][0-9A-Za-z]?)`)

// prefixWriter turns a byte stream into prefixed lines on a printer. It may
// be shared by goroutines (kernels are acquired concurrently).
type prefixWriter struct {
	p      *printer
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		w.p.Println(w.prefix + ansiRE.ReplaceAllString(strings.TrimRight(string(w.buf[:i]), "\r"), ""))
		w.buf = w.buf[i+1:]
	}
}

// kernelReport follows one VM's results channel and judges the run.
type kernelReport struct {
	label   string
	out     *printer
	prefix  string
	verbose bool

	suite    string
	tally    vmproto.Tally
	inKmsg   bool
	kmsgDone bool
	kmsg     []string
	summary  *vmproto.Tally
	first    time.Time // first line from init: the boot is over

	// problems are run-level failures (timeout, splat, missing summary),
	// each counted as one failed test.
	problems []problem
}

type problem struct {
	msg     string
	details []string
}

func newKernelReport(label string, width int, out *printer, verbose bool) *kernelReport {
	return &kernelReport{label: label, out: out, verbose: verbose, prefix: fmt.Sprintf("[%-*s] ", width, label)}
}

// handle processes one results-channel line.
func (r *kernelReport) handle(text string) {
	if r.first.IsZero() {
		r.first = time.Now()
	}
	switch {
	case text == vmproto.KmsgBegin:
		r.inKmsg = true
		return
	case text == vmproto.KmsgEnd:
		r.inKmsg, r.kmsgDone = false, true
		return
	case r.inKmsg:
		r.kmsg = append(r.kmsg, text)
		if r.verbose {
			r.out.Println(r.prefix + "kmsg: " + text)
		}
		return
	}
	if name, ok := vmproto.SuiteName(text); ok {
		r.suite = name
		r.out.Println(r.prefix + "suite " + name)
		return
	}
	if r.kmsgDone {
		if p, f, ok := vmproto.ParseSummary(text); ok {
			r.summary = &vmproto.Tally{Passed: p, Failed: f}
			return
		}
	}
	r.tally.Add(vmproto.Parse(text))
	r.out.Println(r.prefix + text)
}

// finish judges the run once QEMU is gone.
func (r *kernelReport) finish(o vmOutcome, silence time.Duration, boot time.Time, consoleLines []string) {
	switch {
	case o.TimedOut:
		r.problem(fmt.Sprintf("timed out after %s", o.Elapsed.Round(time.Second)))
	case o.Silent:
		r.problem(fmt.Sprintf("killed after %s: the guest wrote nothing for %s (hung kernel? see the console log)",
			o.Elapsed.Round(time.Second), silence.Round(time.Second)))
	case o.Err != nil:
		r.problem(o.Err.Error())
	}
	if r.summary == nil && !o.TimedOut && !o.Silent {
		r.problem("no summary from ks-vminit (the VM crashed or init died; see the console log)")
	}
	if r.summary != nil && *r.summary != r.tally {
		r.problem(fmt.Sprintf("ks-vminit counted %s but the host saw %s (lost output?)", r.summary, r.tally))
	}
	if r.summary != nil && r.tally.Passed+r.tally.Failed == 0 {
		r.problem("the kernel reported no results (no suite ran? see the console log)")
	}
	if splats := ScanSplats(r.kmsg, consoleLines); len(splats) > 0 {
		r.problem(fmt.Sprintf("kernel log reports a bug (%d lines)", len(splats)), splats...)
	}
	if lost := ScanLost(r.kmsg, consoleLines); len(lost) > 0 {
		r.problem("kernel log records were lost: a report may have been among them (a suite logging too much?)", lost...)
	}
	if !r.first.IsZero() {
		r.out.Printf("%sboot %.1fs, run %.1fs", r.prefix, r.first.Sub(boot).Seconds(), o.Elapsed.Seconds())
	}
	r.report()
}

// report prints the run-level problems and the kernel's result line. A
// multi-line problem (a failed build's output) prints as comments after its
// first line.
func (r *kernelReport) report() {
	for _, p := range r.problems {
		first, rest, _ := strings.Cut(p.msg, "\n")
		r.out.Println(r.prefix + "not ok - " + first)
		for _, l := range strings.Split(rest, "\n") {
			if l != "" {
				r.out.Println(r.prefix + "# " + l)
			}
		}
		for _, d := range p.details {
			r.out.Println(r.prefix + "# kernel: " + d)
		}
	}
	r.out.Println(r.prefix + r.result().String())
}

// problem records a run-level failure with the log lines that show it.
func (r *kernelReport) problem(msg string, details ...string) {
	r.problems = append(r.problems, problem{msg, details})
}

// result is the kernel's contribution to the final count.
func (r *kernelReport) result() vmproto.Tally {
	t := r.tally
	t.Failed += len(r.problems)
	return t
}
