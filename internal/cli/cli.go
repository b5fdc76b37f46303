package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/kmod"
	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/preflight"
)

// Exit codes.
const (
	ExitOK      = 0 // done
	ExitWarn    = 1 // done, with warnings
	ExitRefused = 2 // refused: nothing changed
	ExitError   = 3 // could not run: usage, module missing, I/O
)

// Env is everything the commands touch outside the process.
type Env struct {
	Stdout, Stderr io.Writer
	// FS is the host filesystem: hostfs.Dir("/").
	FS hostfs.FS
	// Now tells the time for save's header.
	Now func() time.Time
	// Sleep waits between polls of a tryengage probe.
	Sleep func(ctx context.Context, d time.Duration) error
	// User names who runs the command, for save's header.
	User func() string
	// Modprobe loads a module, for --load.
	Modprobe func(ctx context.Context, module string) error
	// ProbeBPF is doctor's BPF feature probe; nil skips it.
	ProbeBPF func() (kprobe, override error)
	// Terminal is true when Stdout is a terminal: the tryengage
	// countdown then redraws one line.
	Terminal bool
}

// HostEnv is the Env of the running host.
func HostEnv() Env {
	terminal := false
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		terminal = true
	}
	return Env{
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		FS:       hostfs.Dir("/"),
		Now:      time.Now,
		Sleep:    sleep,
		User:     currentUser,
		Modprobe: modprobe,
		ProbeBPF: preflight.ProbeBPF,
		Terminal: terminal,
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func currentUser() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return describeUser(name, os.Getuid(), os.Getenv("SUDO_USER"))
}

// sudoUserRE is what a login name may hold (POSIX portable names, plus @
// for directory users and a trailing $ for machine accounts).
var sudoUserRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}\$?$`)

// describeUser says who runs the command. SUDO_USER comes from the
// environment, which sudo's caller may shape: it ends up in files root
// reads later (save's modprobe.d header, where a newline would start a
// modprobe directive), so anything but a plain login name is shown quoted
// and marked, never as is.
func describeUser(name string, uid int, sudoUser string) string {
	who := fmt.Sprintf("%s (uid %d)", oneLine(name), uid)
	switch {
	case sudoUser == "":
	case sudoUserRE.MatchString(sudoUser):
		who = sudoUser + " via sudo as " + who
	default:
		who = "an unrecognised SUDO_USER " + strconv.QuoteToASCII(sudoUser) + " via sudo as " + who
	}
	return who
}

// oneLine keeps text on one line of printable characters: what goes into
// a configuration file's comment must not end the comment.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return '?'
		}
		return r
	}, s)
}

func modprobe(ctx context.Context, module string) error { return kmod.Modprobe(ctx, module) }

// exitError carries an exit code with an error already worth printing.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func refused(format string, args ...any) error {
	return &exitError{ExitRefused, fmt.Errorf(format, args...)}
}

// silent is an exit code whose reason was already printed.
type silent int

func (s silent) Error() string { return fmt.Sprintf("exit %d", int(s)) }

// app is one invocation's state.
type app struct {
	env    Env
	ctx    context.Context
	client *ksfs.Client
	host   *preflight.Host
	warned bool
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.env.Stdout, format, args...) }

func (a *app) warnf(format string, args ...any) {
	a.warned = true
	fmt.Fprintf(a.env.Stderr, format, args...)
}

// negNumber matches a negative number argument, which pflag would take
// for a cluster of short flags.
var negNumber = regexp.MustCompile(`^-(0[xX][0-9a-fA-F]+|[0-9]+)$`)

// negPrefix stands for the minus sign of a negative number between Main
// and the commands, hidden from pflag. It cannot be typed by accident.
const negPrefix = "\x00neg:"

// Main runs the command line args (without the program name) and returns
// the exit code.
func Main(ctx context.Context, args []string, env Env) int {
	a := &app{env: env, ctx: ctx, client: ksfs.New(env.FS), host: preflight.NewHost(env.FS)}
	root := a.rootCommand()
	root.SetArgs(hideNegatives(args))
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetContext(ctx)

	err := root.Execute()
	var code silent
	var ee *exitError
	var ce *ksfs.CommandError
	switch {
	case err == nil && a.warned:
		return ExitWarn
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &ee):
		fmt.Fprintln(env.Stderr, "killswitch: "+ee.Error())
		return ee.code
	case errors.As(err, &ce):
		fmt.Fprintln(env.Stderr, "killswitch: "+ce.Error())
		for _, line := range ce.KernelLog {
			fmt.Fprintln(env.Stderr, "  kernel log: "+line)
		}
		if errors.Is(err, ksfs.ErrModuleNotLoaded) {
			return ExitError
		}
		return ExitRefused
	default:
		fmt.Fprintln(env.Stderr, "killswitch: "+err.Error())
		return ExitError
	}
}

// hideNegatives protects negative numbers from flag parsing: "-1" becomes
// negPrefix+"1" up to a "--".
func hideNegatives(args []string) []string {
	out := make([]string, len(args))
	dashdash := false
	for i, arg := range args {
		if arg == "--" {
			dashdash = true
		}
		if !dashdash && negNumber.MatchString(arg) {
			arg = negPrefix + arg[1:]
		}
		out[i] = arg
	}
	return out
}

// arg undoes hideNegatives.
func arg(s string) string {
	if rest, ok := strings.CutPrefix(s, negPrefix); ok {
		return "-" + rest
	}
	return s
}

func usageError(err error) error { return &exitError{ExitError, err} }

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "killswitch",
		Short: "Make a kernel function return a fixed value, safely",
		Long: `killswitch drives the killswitch kernel module: it makes a chosen kernel
function return a fixed value without running its body, until disengaged or
reboot. It checks the function before it breaks anything (killswitch check),
and shows what is engaged (killswitch status).

Exit codes: 0 done; 1 done with warnings; 2 refused, nothing changed
(pre-flight or kernel refusal, tryengage aborted); 3 could not run (usage
error, module not loaded, I/O error).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddGroup(&cobra.Group{ID: "change", Title: "Change engagements:"}, &cobra.Group{ID: "look", Title: "Look before and after:"})
	root.AddCommand(
		a.statusCommand(),
		a.engageCommand(),
		a.tryengageCommand(),
		a.engageBPFCommand(),
		a.observeCommand(),
		a.disengageCommand(),
		a.disengageAllCommand(),
		a.setRetvalCommand(),
		a.checkCommand(),
		a.doctorCommand(),
		a.saveCommand(),
		a.mitigationsCommand(),
		a.mitigateCommand(),
	)
	return root
}

// exactArgs is cobra.RangeArgs with an exit code for usage errors.
func argsBetween(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return usageError(fmt.Errorf("%s: wrong number of arguments\nusage: %s", cmd.Name(), cmd.UseLine()))
		}
		return nil
	}
}

// completeEngaged completes the symbols currently engaged.
func (a *app) completeEngaged(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	list, err := a.client.Engagements()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Symbol)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
