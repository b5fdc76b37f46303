package guest

import (
	"fmt"
	"os"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

// NoSkipEnv names the suite environment variable (Kernel.Env) that makes a
// skip a failure: set on a kernel built to have what the suites check (the
// test kernel has BPF override), where a skip can only mean the kernel or
// the suite is broken.
const NoSkipEnv = "KS_NO_SKIP"

// suiteJudge applies the harness's rules to one suite's output: skips are
// failures where NoSkipEnv is set, and the suite must report exactly the
// results its plan declared.
type suiteJudge struct {
	noSkip bool
	plan   *vmproto.Plan
	// covered are the kernel log ranges the suite proved it read whole.
	covered [][2]uint64
}

func newSuiteJudge(noSkip bool) *suiteJudge {
	return &suiteJudge{noSkip: noSkip, plan: vmproto.NewPlan()}
}

func noSkipFromEnv() bool { return os.Getenv(NoSkipEnv) == "1" }

// line records one line of suite output and returns the line to report:
// the line itself, or a failure in place of a forbidden skip.
func (j *suiteJudge) line(text string) vmproto.Line {
	l := vmproto.Parse(text)
	if first, last, ok := vmproto.ParseKmsgComplete(text); ok {
		j.covered = append(j.covered, [2]uint64{first, last})
	}
	j.plan.See(l)
	if l.Skip && j.noSkip {
		return vmproto.Parse(vmproto.FailLine(l.Name,
			fmt.Sprintf("skipped (%s) on a kernel that must run it (%s=1)", l.SkipReason, NoSkipEnv)))
	}
	return l
}

// problems are the suite-level failures once it has exited.
func (j *suiteJudge) problems() []string { return j.plan.Problems() }
