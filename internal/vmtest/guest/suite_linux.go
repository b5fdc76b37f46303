package guest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

// reporter writes to the results channel and counts results. Suites' stdout
// and stderr are forwarded concurrently, hence the lock.
type reporter struct {
	mu    sync.Mutex
	w     io.Writer
	tally vmproto.Tally
	// covered: kernel log ranges suites proved they read whole.
	covered [][2]uint64
}

func (r *reporter) line(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(r.w, s)
}

func (r *reporter) comment(s string) { r.line(vmproto.CommentLine(s)) }

// result forwards a line a suite printed and counts it when it is a result.
func (r *reporter) result(l vmproto.Line) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tally.Add(l)
	fmt.Fprintln(r.w, l.Text)
}

// outputGrace bounds how long output may keep flowing after a suite's
// process group is gone (a daemon that escaped with setsid holding the pipe).
const outputGrace = 2 * time.Second

// runSuite runs one suite in its own process group, forwards its output and
// turns a non-zero exit or a timeout into one failed test.
func runSuite(ctx context.Context, cfg Config, path string, r *reporter) {
	name := filepath.Base(path)
	r.line(vmproto.SuiteStart(name))
	fail := func(reason string) { r.result(vmproto.Parse(vmproto.FailLine(name, reason))) }

	ctx, cancel := context.WithTimeout(ctx, cfg.SuiteTimeout)
	defer cancel()

	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		fail("creating stdout pipe: " + err.Error())
		return
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		fail("creating stderr pipe: " + err.Error())
		return
	}

	cmd := exec.Command(path)
	cmd.Dir = cfg.WorkDir
	cmd.Stdout, cmd.Stderr = stdoutW, stderrW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	startErr := cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	if startErr != nil {
		stdoutR.Close()
		stderrR.Close()
		fail("starting: " + startErr.Error())
		return
	}

	judge := newSuiteJudge(noSkipFromEnv())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		forward(stdoutR, func(s string) { r.result(judge.line(s)) })
	}()
	go func() {
		defer wg.Done()
		forward(stderrR, func(s string) { r.comment("stderr: " + s) })
	}()

	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var timedOut bool
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		timedOut = true
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		err = <-waitErr
	}
	// Leftover background processes must not leak into the next suite.
	_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(outputGrace):
		stdoutR.Close()
		stderrR.Close()
		<-done
		r.comment(name + ": output still open after the suite exited; closed it")
	}
	stdoutR.Close()
	stderrR.Close()

	// Only once the output is drained: the plan covers all of it. A suite
	// that timed out or died also fails on its count, which says how far
	// it got.
	for _, p := range judge.problems() {
		fail(p)
	}
	r.mu.Lock()
	r.covered = append(r.covered, judge.covered...)
	r.mu.Unlock()
	switch {
	case timedOut:
		fail(fmt.Sprintf("timed out after %s", cfg.SuiteTimeout))
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				r.result(vmproto.Parse(fmt.Sprintf("not ok - %s killed by signal %s", name, ws.Signal())))
				return
			}
			r.result(vmproto.Parse(fmt.Sprintf("not ok - %s exited %d", name, ee.ExitCode())))
			return
		}
		fail(err.Error())
	}
}

// forward calls emit for each line read from rd until EOF or error.
func forward(rd io.Reader, emit func(string)) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		emit(sc.Text())
	}
}
