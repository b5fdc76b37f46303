package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/agent"
	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/rootfile"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitInvalid = 1 // validate: the policy is invalid
	ExitError   = 2 // could not run
)

// exitError carries an exit code for an error already worth printing.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Main runs killswitchd with args and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := rootCommand(ctx, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "killswitchd: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "killswitchd: %v\n", err)
	return ExitError
}

type runFlags struct {
	policy     string
	stateDir   string
	metrics    string
	interval   time.Duration
	loadModule bool
	logFormat  string
	logLevel   string
	trust      trustFlags
}

func rootCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	var f runFlags
	root := &cobra.Command{
		Use:   "killswitchd",
		Short: "Keep the killswitch engagements a policy file declares, and export them as metrics",
		Long: `killswitchd applies a declarative policy (YAML, apiVersion killswitch/v1) to
the killswitch kernel module and keeps it applied: it engages what is
missing (after pre-flight), changes what it owns when the policy changes,
disengages what it owns and the policy no longer wants, re-applies after the
module is reloaded, and loads the module if it is absent. Engagements it did
not make are left alone unless the policy says adopt or exclusive.

It re-reads the policy when the file changes (within a second), reacts to
module loads and unloads at once, and resyncs every --interval. An invalid
policy changes nothing. Stopping killswitchd leaves engagements in place;
roll back by applying a policy without them (entries: []).

What a policy may ask is bounded by this node, never by the policy: with
--trust=catalog (the default) only reviewed catalog entries, by CVE id;
--trust=allowlist adds the symbols and modules named in a root-owned file;
--trust=any allows anything. With --trust-keys, only a policy signed by one
of the node's keys (killswitchd keygen, killswitchd sign) is applied. A
refused entry or policy is logged, counted in metrics and fails /readyz.

Metrics are served at http://<metrics-address>/metrics, liveness at /healthz,
readiness at /readyz.`,
		Example: `  killswitchd --policy /etc/killswitch/policy.yaml --trust=catalog
  killswitchd --trust=allowlist --trust-allowlist=/etc/killswitch/allowlist --trust-keys=/etc/killswitch/keys
  killswitchd validate /etc/killswitch/policy.yaml
  killswitchd metrics killswitch_engagement_`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), f, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	fl := root.Flags()
	fl.StringVar(&f.policy, "policy", agent.DefaultPolicyPath, "the policy file")
	fl.StringVar(&f.stateDir, "state-dir", agent.DefaultStateDir, "where the agent records the engagements it made (a runtime directory: a reboot ends them)")
	fl.StringVar(&f.metrics, "metrics-address", agent.DefaultMetricsAddress, `address for /metrics and /healthz; "" serves none`)
	fl.DurationVar(&f.interval, "interval", agent.DefaultInterval, "full resync period (file and module events act at once)")
	fl.BoolVar(&f.loadModule, "load-module", true, "modprobe killswitch when it is absent and the policy asks for something")
	fl.StringVar(&f.logFormat, "log-format", "text", "text (logfmt) or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	f.trust.add(fl)
	root.AddCommand(validateCommand(stdout), metricsCommand(stdout), keygenCommand(stdout), signCommand(stdout))
	return root
}

// newLogger writes one line per record to w. Under systemd (JOURNAL_STREAM
// set) the time is left to the journal.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func run(ctx context.Context, f runFlags, stderr io.Writer) error {
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return &exitError{ExitError, err}
	}
	rules, keys, err := f.trust.load(rootfile.Root)
	if err != nil {
		log.Error("cannot start: the node's trust policy does not load", "err", err.Error())
		return &exitError{ExitError, err}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := agent.New(agent.Config{
		PolicyPath: f.policy,
		StateDir:   f.stateDir,
		FS:         hostfs.Dir("/"),
		Catalog:    defaultCatalog(),
		Trust:      rules,
		Keys:       keys,
		LoadModule: f.loadModule,
		Interval:   f.interval,
		Log:        log,
		Registerer: reg,
	})
	if err != nil {
		return &exitError{ExitError, err}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	if strings.TrimSpace(f.metrics) != "" {
		go func() {
			serveErr <- a.Serve(ctx, f.metrics, reg, 3*f.interval+time.Minute)
		}()
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	select {
	case err := <-runErr:
		return err
	case err := <-serveErr:
		if err != nil {
			cancel()
			<-runErr
			return &exitError{ExitError, err}
		}
		return <-runErr
	}
}
