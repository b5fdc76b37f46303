package vmtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// vmConfig is one boot.
type vmConfig struct {
	Kernel       *Kernel
	Initrd       string
	MemoryMB     int
	CPUs         int
	SuiteTimeout time.Duration
	// Env is exported to the suites (ks.env=KEY=VAL items).
	Env map[string]string
	// Silence is how long the guest may say nothing on the results
	// channel before the harness declares it hung and kills it.
	Silence time.Duration
}

// resultsFD is the descriptor number QEMU inherits the results pipe on.
const resultsFD = 3

// cmdline is the kernel command line: console on the first serial port,
// reboot (which -no-reboot turns into exit) right after a panic, and the
// ks.* settings ks-vminit reads.
func (c vmConfig) cmdline() string {
	k := c.Kernel
	args := []string{
		"console=" + k.Arch.Console,
		"panic=-1",
		// Suites may write markers to /dev/kmsg without being rate limited.
		"printk.devkmsg=on",
		// A lost record fails the run (ks-vminit reads the log from boot
		// on): room for a debug kernel's boot log before init starts
		// reading, and slack while a suite logs fast. Debian's is 128K.
		"log_buf_len=16M",
		"ks.label=" + k.Label,
		"ks.arch=" + k.Arch.Name,
		"ks.results=" + k.Arch.ResultsDevice,
		"ks.suite_timeout=" + strconv.Itoa(int(c.SuiteTimeout/time.Second)),
	}
	args = append(args, envArgs(c.Env)...)
	args = append(args, k.Arch.Cmdline...)
	return strings.Join(append(args, k.Cmdline...), " ")
}

// qemuArgs is the emulator's command line. The console (first serial port,
// muxed with the monitor) is QEMU's stdout; the results channel is a chardev
// writing into an inherited pipe.
func (c vmConfig) qemuArgs() []string {
	k := c.Kernel
	args := append([]string{}, k.Arch.QEMUArgs...)
	for i := 0; k.Accel != "" && i+1 < len(args); i++ {
		if args[i] == "-accel" {
			args[i+1] = k.Accel
		}
	}
	args = append(args,
		"-m", strconv.Itoa(c.MemoryMB),
		"-smp", strconv.Itoa(c.CPUs),
		"-nodefaults", "-nographic", "-no-reboot",
		"-kernel", k.Image,
		"-initrd", c.Initrd,
		"-append", c.cmdline(),
		"-serial", "mon:stdio",
		"-chardev", fmt.Sprintf("file,id=results,path=/dev/fd/%d", resultsFD),
	)
	return append(args, k.Arch.ResultsArgs...)
}

// vmOutcome is how a boot ended.
type vmOutcome struct {
	TimedOut bool  // the run's deadline passed
	Silent   bool  // the guest said nothing for vmConfig.Silence
	Err      error // QEMU failed to start or exited with an error
	Elapsed  time.Duration
}

var errSilent = errors.New("guest silent")

// runVM boots the VM and calls onResult for every results-channel line as it
// arrives. The console goes to console. It returns when QEMU has exited and
// both streams are drained. ctx's deadline kills QEMU, and so does a guest
// silent for c.Silence: ks-vminit reports a stuck suite within the suite
// timeout, so longer silence means the guest kernel itself is stuck.
func runVM(ctx context.Context, c vmConfig, console io.Writer, onResult func(string)) vmOutcome {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(c.Silence, func() { cancel(errSilent) })
	defer watchdog.Stop()
	pr, pw, err := os.Pipe()
	if err != nil {
		return vmOutcome{Err: fmt.Errorf("creating results pipe: %w", err)}
	}
	defer pr.Close()

	cmd := exec.CommandContext(ctx, c.Kernel.Arch.QEMU, c.qemuArgs()...)
	cmd.Stdin = nil // /dev/null: nothing may reach the monitor
	cmd.Stdout, cmd.Stderr = console, console
	cmd.ExtraFiles = []*os.File{pw} // fd 3 == resultsFD
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return vmOutcome{Err: fmt.Errorf("starting %s: %w", c.Kernel.Arch.QEMU, err)}
	}

	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			watchdog.Reset(c.Silence)
			onResult(strings.TrimRight(sc.Text(), "\r"))
		}
	}()
	err = cmd.Wait()
	<-drained
	out := vmOutcome{Elapsed: time.Since(start)}
	switch {
	case errors.Is(context.Cause(ctx), errSilent):
		out.Silent = true
	case ctx.Err() != nil:
		out.TimedOut = true
	case err != nil:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 0 {
			out.Err = fmt.Errorf("%s: %w", c.Kernel.Arch.QEMU, err)
		}
	}
	return out
}
