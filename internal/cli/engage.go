package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/preflight"
)

// checkFlags are the pre-flight flags of every command that engages.
type checkFlags struct {
	force   bool
	noCheck bool
	load    bool
	module  string
}

func (f *checkFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.force, "force", false, "go ahead despite refusals that are pre-flight's own judgement (void return, odd values)")
	cmd.Flags().BoolVar(&f.noCheck, "no-check", false, "skip pre-flight entirely")
	cmd.Flags().BoolVar(&f.load, "load", false, "modprobe the module that holds the symbol if it is not loaded")
	cmd.Flags().StringVar(&f.module, "module", "", "the module expected to hold the symbol (named if it is not loaded)")
}

// target is a parsed <sym> <retval> [filter...].
type target struct {
	sym     string
	retval  int64
	filters []ksfs.Filter
}

func parseTarget(verb string, args []string, filtersFrom int) (target, error) {
	t := target{sym: args[0]}
	if err := ksfs.ValidateSymbol(t.sym); err != nil {
		return t, usageError(fmt.Errorf("%s: %w", verb, err))
	}
	if len(args) > 1 {
		v, err := ksfs.ParseRetval(arg(args[1]))
		if err != nil {
			return t, usageError(fmt.Errorf("%s %s: retval %w", verb, t.sym, err))
		}
		t.retval = v
	}
	for _, s := range args[min(filtersFrom, len(args)):] {
		f, err := ksfs.ParseFilter(arg(s))
		if err != nil {
			return t, usageError(fmt.Errorf("%s %s: %w", verb, t.sym, err))
		}
		t.filters = append(t.filters, f)
	}
	if len(t.filters) > ksfs.MaxFilters {
		return t, usageError(fmt.Errorf("%s %s: %d filters, at most %d", verb, t.sym, len(t.filters), ksfs.MaxFilters))
	}
	return t, nil
}

// preflight runs the checks before a change: refusals stop it (exit 2),
// warnings are shown and the change goes ahead. A filter on an argument BTF
// gives 32 bits becomes arg<N>:32: the module compares all 64 bits unless
// told, and the upper half of an int's register is undefined.
func (a *app) preflight(verb string, t *target, observe bool, f checkFlags) error {
	if f.noCheck {
		return nil
	}
	req := preflight.Request{Symbol: t.sym, Filters: t.filters, Observe: observe, Force: f.force, Module: f.module}
	if !observe {
		req.Retval = &t.retval
	}
	r := a.host.Check(req)
	if r.MissingModule != "" && f.load {
		fmt.Fprintf(a.env.Stderr, "loading module %s\n", r.MissingModule)
		if err := a.env.Modprobe(a.ctx, r.MissingModule); err != nil {
			return &exitError{ExitError, fmt.Errorf("%s %s: %w", verb, t.sym, err)}
		}
		r = a.host.Check(req)
	}
	for _, fd := range r.Findings {
		if fd.Verdict == preflight.Warn {
			a.warnf("warning: %s %s: %s\n", verb, t.sym, fd)
		}
	}
	for i, fl := range t.filters {
		if fl.Arg > 0 && r.Int32Arg(fl.Arg) {
			t.filters[i].Int32 = true
		}
	}
	refusals := r.Refusals()
	if len(refusals) == 0 {
		return nil
	}
	for _, fd := range refusals {
		fmt.Fprintf(a.env.Stderr, "killswitch: %s %s: %s\n", verb, t.sym, fd)
	}
	forceable := true
	for _, fd := range refusals {
		forceable = forceable && fd.Forceable
	}
	hint := "nothing was changed"
	if forceable {
		hint += "; --force overrides"
	}
	fmt.Fprintf(a.env.Stderr, "killswitch: %s %s refused by pre-flight: %s\n", verb, t.sym, hint)
	return silent(ExitRefused)
}

func describe(t target) string {
	s := "returns " + ksfs.FormatRetval(t.retval)
	if len(t.filters) > 0 {
		s += " when " + strings.ReplaceAll(ksfs.FormatFilters(t.filters), ",", " and ")
	}
	return s
}

func (a *app) engageCommand() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:     "engage <symbol> <retval> [filter...]",
		GroupID: "change",
		Short:   "Make a function return retval without running its body",
		Long: `Engage makes <symbol> return <retval> without running its body, from now
until disengaged, the module unloads, or reboot. Pre-flight (killswitch check)
runs first: refusals stop it, warnings are printed.

<retval> is a signed decimal or 0x-hex number; a negative errno is usual.
Filters restrict the override to some callers; all must hold, otherwise the
function runs: uid=<n>, uid!=<n> (caller's uid), arg<N>=<v>, arg<N>!=<v>
(N = 1..6, integer arguments).`,
		Example: `  # CVE-2026-31431: every AF_ALG sendmsg fails with EPERM
  killswitch engage af_alg_sendmsg -1

  # only for non-root callers
  killswitch engage af_alg_sendmsg -1 uid!=0

  # refuse AF_ALG sockets (family 38) with EAFNOSUPPORT, leave the others
  killswitch engage __sys_socket -97 arg1=38

  # the symbol lives in a module that is not loaded yet
  killswitch engage esp_input -22 --load`,
		Args: argsBetween(2, 2+ksfs.MaxFilters),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget("engage", args, 2)
			if err != nil {
				return err
			}
			if err := a.preflight("engage", &t, false, f); err != nil {
				return err
			}
			if err := a.client.Engage(t.sym, t.retval, t.filters...); err != nil {
				return err
			}
			a.printf("engaged %s: %s\n", t.sym, describe(t))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) tryengageCommand() *cobra.Command {
	var f checkFlags
	var noWait bool
	cmd := &cobra.Command{
		Use:     "tryengage <symbol> <retval> <probe-time> [filter...]",
		GroupID: "change",
		Short:   "Engage only if nothing calls the function during a probe window",
		Long: `Tryengage first counts the calls to <symbol> (those the filters select)
for <probe-time> while letting them run. If there were none, the module
engages it; if there were, it aborts and the function keeps working.

<probe-time> is seconds (0..86400) or a duration such as 90s or 5m; 0 engages
at once. Unless --no-wait, the command shows a countdown with the hits and
ends with the verdict: exit 0 when committed (1 if pre-flight warned), 2 when
aborted. Interrupting it
leaves the probe running in the kernel.`,
		Example: `  # engage esp_input only if nothing on this host uses IPsec for 5 minutes
  killswitch tryengage esp_input -22 5m

  # start the probe and return; watch it with killswitch status
  killswitch tryengage af_alg_sendmsg -1 600 uid!=0 --no-wait`,
		Args: argsBetween(3, 3+ksfs.MaxFilters),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget("tryengage", args, 3)
			if err != nil {
				return err
			}
			probe, err := ksfs.ParseProbe(args[2])
			if err != nil {
				return usageError(fmt.Errorf("tryengage %s: %w", t.sym, err))
			}
			if err := a.preflight("tryengage", &t, false, f); err != nil {
				return err
			}
			if err := a.client.TryEngage(t.sym, t.retval, probe, t.filters...); err != nil {
				return err
			}
			if probe == 0 {
				a.printf("engaged %s: %s\n", t.sym, describe(t))
				return nil
			}
			a.printf("probing %s for %v: it %s if nothing calls it\n", t.sym, probe, describe(t))
			if noWait {
				a.printf("the module decides in %v; killswitch status %s shows the countdown\n", probe, t.sym)
				return nil
			}
			return a.waitProbe(t)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the probe is installed")
	return cmd
}

// waitProbe follows a tryengage window to its verdict.
func (a *app) waitProbe(t target) error {
	var last ksfs.Engagement
	lastPrint := ""
	printed := time.Duration(-1)
	for {
		e, err := a.client.Engagement(t.sym)
		switch {
		case errors.Is(err, ksfs.ErrNotEngaged):
			a.endLine()
			return refused("tryengage %s aborted: it was called during the probe (hits=%d at the last look), so it was not engaged and keeps running (killswitch observe %s shows who calls it)",
				t.sym, last.Hits, t.sym)
		case err != nil:
			a.endLine()
			return err
		case e.State == ksfs.StateEngaged:
			a.endLine()
			a.printf("tryengage %s committed: no calls during the probe; it now %s\n", t.sym, describe(t))
			return nil
		case e.State != ksfs.StateProbing:
			a.endLine()
			return fmt.Errorf("tryengage %s: state changed to %s under us", t.sym, e.State)
		}

		line := fmt.Sprintf("probing %s: %v left, hits=%d", t.sym, e.TimeoutLeft, e.Hits)
		switch {
		case a.env.Terminal:
			fmt.Fprintf(a.env.Stdout, "\r\033[K%s", line)
			lastPrint = line
		case e.Hits != last.Hits || printed < 0 || printed-e.TimeoutLeft >= 10*time.Second:
			a.printf("%s\n", line)
			printed = e.TimeoutLeft
		}
		last = e

		wait := time.Second
		if e.TimeoutLeft > 0 && e.TimeoutLeft < wait {
			wait = e.TimeoutLeft
		}
		if err := a.env.Sleep(a.ctx, wait); err != nil {
			if lastPrint != "" {
				fmt.Fprintln(a.env.Stdout)
			}
			a.warnf("stopped waiting: the probe of %s goes on in the kernel (killswitch status %s follows it; killswitch disengage %s cancels it)\n", t.sym, t.sym, t.sym)
			return nil
		}
	}
}

func (a *app) endLine() {
	if a.env.Terminal {
		fmt.Fprint(a.env.Stdout, "\r\033[K")
	}
}

func (a *app) observeCommand() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:     "observe <symbol>",
		GroupID: "change",
		Short:   "Count calls and record callers, without overriding anything",
		Long: `Observe counts the calls to <symbol> indefinitely and records its recent
distinct callers (comm, pid, uid): who would break if it were engaged.
Nothing is overridden. killswitch status <symbol> shows the counts and
callers; engage converts it in place, disengage ends it.`,
		Example: `  killswitch observe ksmbd_smb2_negotiate
  killswitch status ksmbd_smb2_negotiate
  killswitch engage ksmbd_smb2_negotiate -22   # converts, no gap`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget("observe", args, 1)
			if err != nil {
				return err
			}
			if err := a.preflight("observe", &t, true, f); err != nil {
				return err
			}
			if err := a.client.Observe(t.sym); err != nil {
				return err
			}
			a.printf("observing %s: killswitch status %s shows hits and callers\n", t.sym, t.sym)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) disengageCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "disengage <symbol>",
		GroupID: "change",
		Short:   "Give a function its body back",
		Long: `Disengage ends the engagement of <symbol> (engaged, probing or observed):
the function runs again from the next call. A BPF engagement (engagebpf) is
removed by deleting its pin under /sys/fs/bpf/killswitch. Allowed under
lockdown.`,
		Example:           `  killswitch disengage af_alg_sendmsg`,
		Args:              argsBetween(1, 1),
		ValidArgsFunction: a.completeEngaged,
		RunE: func(cmd *cobra.Command, args []string) error {
			gone, err := a.client.Disengage(args[0])
			a.reportGone(gone)
			return err
		},
	}
}

func (a *app) disengageAllCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "disengage-all",
		GroupID: "change",
		Short:   "Disengage everything, BPF pins included",
		Example: `  killswitch disengage-all`,
		Args:    argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			gone, err := a.client.DisengageAll()
			a.reportGone(gone)
			if err == nil && len(gone) == 0 {
				a.printf("nothing was engaged\n")
			}
			return err
		},
	}
}

func (a *app) reportGone(gone []ksfs.Engagement) {
	for _, e := range gone {
		if e.BPFPin != "" {
			a.printf("disengaged %s: removed BPF pin %s\n", e.Symbol, e.BPFPin)
			continue
		}
		a.printf("disengaged %s (was %s, retval %s, hits=%d, missed=%d)\n", e.Symbol, e.State, ksfs.FormatRetval(e.Retval), e.Hits, e.Missed)
	}
}

func (a *app) setRetvalCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "set-retval <symbol> <retval>",
		GroupID: "change",
		Short:   "Change what an engaged function returns, live",
		Long: `Set-retval writes fn/<symbol>/retval: the next call returns the new value.
Filters and counters stay. The guard rails apply as on engage.`,
		Example:           `  killswitch set-retval af_alg_sendmsg -95`,
		Args:              argsBetween(2, 2),
		ValidArgsFunction: a.completeEngaged,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget("set-retval", args, 2)
			if err != nil {
				return err
			}
			if err := a.client.SetRetval(t.sym, t.retval); err != nil {
				return err
			}
			a.printf("%s now returns %s\n", t.sym, ksfs.FormatRetval(t.retval))
			return nil
		},
	}
}

// absPath makes a BPF object path absolute: the helper runs in /.
func absPath(p string) (string, error) {
	if filepath.IsAbs(p) {
		return p, nil
	}
	return filepath.Abs(p)
}

func (a *app) engageBPFCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "engagebpf <symbol> <object.bpf.o>",
		GroupID: "change",
		Short:   "Attach a BPF override program to a function (kernels with BPF override)",
		Long: `Engagebpf has the module open the error-injection gate just long enough for
/usr/sbin/ks-bpf-load to attach the kprobe program in <object.bpf.o> to
<symbol> and pin it at /sys/fs/bpf/killswitch/<symbol>. The program decides
per call. The engagement lives in the pin: it survives rmmod killswitch, and
killswitch disengage removes it. Needs CONFIG_FUNCTION_ERROR_INJECTION and
CONFIG_BPF_KPROBE_OVERRIDE (killswitch doctor says); elsewhere use filters.
On failure the helper's reason is fetched from the kernel log.`,
		Example: `  killswitch engagebpf af_alg_sendmsg /usr/lib/killswitch/cve-2026-31431.bpf.o`,
		Args:    argsBetween(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sym := args[0]
			obj, err := absPath(args[1])
			if err != nil {
				return usageError(fmt.Errorf("engagebpf %s: %w", sym, err))
			}
			if _, err := a.env.FS.Stat(obj); err != nil {
				return usageError(fmt.Errorf("engagebpf %s: BPF object: %w", sym, err))
			}
			if err := a.client.EngageBPF(sym, obj); err != nil {
				return err
			}
			a.printf("engaged %s with BPF program %s (pinned at %s/%s)\n", sym, obj, ksfs.BPFDir, sym)
			return nil
		},
	}
	return cmd
}
