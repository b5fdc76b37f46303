package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/kmod"
	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
	"github.com/killswitch/killswitch/internal/preflight"
	"github.com/killswitch/killswitch/internal/trust"
)

// ModuleName is the kernel module the agent loads when it is absent.
const ModuleName = "killswitch"

// Defaults for Config.
const (
	DefaultPolicyPath = "/etc/killswitch/policy.yaml"
	DefaultStateDir   = "/run/killswitchd"
	DefaultInterval   = 10 * time.Second
	// debounce lets an editor or a config manager finish writing the
	// policy before it is read.
	debounce = 200 * time.Millisecond
	// moduleReady bounds the wait for a freshly loaded killswitch to
	// finish its init and create its files.
	moduleReady = 5 * time.Second
	// refusalTTL is how long a pre-flight refusal is remembered before
	// pre-flight runs again (module events and policy changes forget it
	// at once).
	refusalTTL = time.Minute
	// passTTL is how long a command that passed pre-flight is trusted.
	passTTL = 10 * time.Minute
	// modprobeTimeout bounds one modprobe.
	modprobeTimeout = time.Minute
	// hostTTL is how long pre-flight's parsed kernel BTF is kept after
	// its last use.
	hostTTL = 5 * time.Minute
)

// Config is what an Agent needs from its caller.
type Config struct {
	// PolicyPath is the policy file (DefaultPolicyPath).
	PolicyPath string
	// StateDir holds the ownership records (DefaultStateDir).
	StateDir string
	// FS is the host: hostfs.Dir("/").
	FS hostfs.FS
	// Catalog resolves CVE entries; nil for none.
	Catalog policy.Catalog
	// Modprobe loads a kernel module (Modprobe runs modprobe(8)).
	Modprobe func(ctx context.Context, module string) error
	// LoadModule has the agent modprobe killswitch when it is absent and
	// the policy asks for something.
	LoadModule bool
	// Interval is the full resync period (DefaultInterval): the policy
	// file and the module are also watched, this catches what events
	// miss.
	Interval time.Duration
	// Log receives every action, with the policy version.
	Log *slog.Logger
	// Now tells the time (time.Now).
	Now func() time.Time
	// Registerer receives the agent's metrics; nil for none.
	Registerer prometheus.Registerer
	// Trust bounds what the policy may ask of this node (the zero value:
	// trust.LevelCatalog). It comes from the node, never the policy.
	Trust trust.Rules
	// Keys, when not empty, must have signed the policy: an unsigned or
	// badly signed policy is refused like an invalid one.
	Keys trust.Keys
	// Events, when not nil, replaces the host's watchers (policy file,
	// module uevents): tests send on it to trigger reconciles.
	Events <-chan Event
}

// Event wakes the agent.
type Event struct {
	// Policy: the policy file may have changed.
	Policy bool
	// Module names a kernel module that was added or removed.
	Module string
	Action string // "add" or "remove"
}

// Agent keeps the module's engagements as the policy says.
type Agent struct {
	cfg       Config
	client    *ksfs.Client
	kernel    policy.Kernel
	bootID    string
	statePath string
	log       *slog.Logger

	// Owned by the loop goroutine.
	st      *state
	pol     *policy.Policy
	polHash [sha256.Size]byte
	polRead bool
	// targetGen counts module loads and unloads other than killswitch's
	// own: pre-flight's verdicts hold while it stays the same.
	targetGen  uint64
	verdicts   map[string]verdict
	warned     map[string]bool
	statuses   statusSet
	failures   map[string]string
	nextExpiry time.Time
	// refused holds the trust refusals of the policy in force, by entry.
	refused map[string][]trust.Refusal
	// signedBy names the key that signed the policy in force.
	signedBy string
	// reported is the policy version and outcome last logged.
	reported string
	// host is pre-flight's view of the kernel, kept while in use.
	host     *preflight.Host
	hostUsed time.Time

	// mu guards what the metrics collector reads.
	mu   sync.Mutex
	view view

	metrics *metrics
}

// verdict is a remembered pre-flight outcome for a command: refused (with
// the reason) or passed (reason empty). A killswitch reload does not change
// what pre-flight judged, so re-engaging after one needs no new check.
type verdict struct {
	reason string
	gen    uint64
	at     time.Time
}

// view is what the metrics show of the agent.
type view struct {
	// policyVersion is the valid policy in force, loaded at loadedAt.
	policyVersion string
	loadedAt      time.Time
	// policyValid: the file parsed (and its signature held) when last
	// read; policyProblem says why not.
	policyValid   bool
	policyProblem string
	// signatureValid: the policy last read carried a good signature
	// (only meaningful with keys).
	signatureValid bool
	// refused are the trust refusals of the policy in force, and of
	// module loads in the last reconcile.
	refused []trust.Refusal
	// applied: the last reconcile met every applicable target without
	// a problem; appliedVersion was first so at appliedAt.
	applied        bool
	appliedVersion string
	appliedAt      time.Time
	statuses       []Status
	owned          map[string]string // symbol -> entry
	lastReconcile  time.Time
}

// New prepares an agent: it reads the kernel's identity and the ownership
// records, but changes nothing.
func New(cfg Config) (*Agent, error) {
	if cfg.FS == nil {
		cfg.FS = hostfs.Dir("/")
	}
	if cfg.PolicyPath == "" {
		cfg.PolicyPath = DefaultPolicyPath
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Modprobe == nil {
		cfg.Modprobe = Modprobe
	}
	if cfg.Catalog == nil {
		cfg.Catalog = policy.NoCatalog{}
	}
	if cfg.Trust.Level == "" {
		cfg.Trust.Level = trust.LevelCatalog
	}
	if err := cfg.Trust.Validate(); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	k, err := readKernel(cfg.FS)
	if err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	a := &Agent{
		cfg:       cfg,
		client:    ksfs.New(cfg.FS),
		kernel:    k,
		bootID:    readBootID(cfg.FS),
		statePath: filepath.Join(cfg.StateDir, StateFile),
		log:       cfg.Log,
		verdicts:  map[string]verdict{},
		warned:    map[string]bool{},
		statuses:  statusSet{},
		failures:  map[string]string{},
		refused:   map[string][]trust.Refusal{},
	}
	st, note := loadState(a.statePath, a.bootID)
	a.st = st
	if note != "" {
		a.log.Warn(note)
	}
	if cfg.Trust.Level == trust.LevelAny {
		a.log.Warn("trust level any: the policy may engage any function with any value and load any module, so whoever can edit it is root on this node (run with --trust=catalog or --trust=allowlist unless only root can edit the policy)",
			"trust", cfg.Trust.Level)
	}
	a.metrics = newMetrics(a)
	if cfg.Registerer != nil {
		if err := a.metrics.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("start agent: register metrics: %w", err)
		}
	}
	return a, nil
}

// Kernel is the kernel the agent selects entries for.
func (a *Agent) Kernel() policy.Kernel { return a.kernel }

// Modprobe loads a kernel module with modprobe(8).
func Modprobe(ctx context.Context, module string) error { return kmod.Modprobe(ctx, module) }

// Run applies the policy and keeps it applied until ctx ends. Stopping the
// agent changes nothing in the kernel: mitigations stay engaged.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("killswitchd starting", "kernel", a.kernel.String(), "policy", a.cfg.PolicyPath,
		"state", a.statePath, "owned", len(a.st.Owned), "interval", a.cfg.Interval)
	events := a.cfg.Events
	if events == nil {
		ch := make(chan Event, 64)
		if err := watchPolicy(ctx, a.cfg.PolicyPath, ch); err != nil {
			a.log.Warn("not watching the policy file; it is re-read every interval", "err", err, "interval", a.cfg.Interval)
		}
		if err := watchModules(ctx, ch); err != nil {
			a.log.Warn("not listening to module events; module reloads are noticed every interval", "err", err, "interval", a.cfg.Interval)
		}
		events = ch
	}

	a.readPolicy("startup")
	a.reconcile(ctx, "startup")

	tick := time.NewTicker(a.cfg.Interval)
	defer tick.Stop()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	var policyDue <-chan time.Time
	for {
		a.armExpiry(expiry)
		select {
		case <-ctx.Done():
			a.log.Info("killswitchd stopping: engagements stay as they are", "owned", len(a.st.Owned), "policy_version", a.version())
			return nil
		case ev := <-events:
			switch {
			case ev.Policy:
				if policyDue == nil {
					policyDue = time.After(debounce)
				}
			case ev.Module != "":
				a.moduleEvent(ctx, ev)
			}
		case <-policyDue:
			policyDue = nil
			if a.readPolicy("file changed") {
				a.reconcile(ctx, "policy")
			}
		case <-expiry.C:
			a.reconcile(ctx, "expiry")
		case <-tick.C:
			a.readPolicy("resync")
			a.reconcile(ctx, "resync")
		}
	}
}

// armExpiry sets the timer to the next expiry, so entries end on time.
func (a *Agent) armExpiry(t *time.Timer) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	d := time.Hour
	if !a.nextExpiry.IsZero() {
		d = max(a.nextExpiry.Sub(a.cfg.Now()), 0)
	}
	t.Reset(d)
}

// moduleEvent reacts to a module uevent: killswitch itself coming or
// going, or a module a target waits for.
func (a *Agent) moduleEvent(ctx context.Context, ev Event) {
	if ev.Module != ModuleName {
		a.targetGen++
	} else if ev.Action == "add" {
		a.waitModule(ctx)
	}
	a.reconcile(ctx, "module "+ev.Module+" "+ev.Action)
}

// waitModule waits for a freshly loaded killswitch to finish its init.
func (a *Agent) waitModule(ctx context.Context) {
	deadline := time.Now().Add(moduleReady)
	for time.Now().Before(deadline) {
		if a.client.Loaded() && moduleState(a.cfg.FS, ModuleName) != "coming" {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readPolicy reads the policy file and, if it changed and is valid, makes
// it the policy. It reports whether the policy changed. An invalid file
// changes nothing: the last valid policy stays.
func (a *Agent) readPolicy(why string) bool {
	data, err := policy.ReadFile(a.cfg.PolicyPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w (write one, even with entries: [], to start; nothing is changed meanwhile)", err)
		}
		a.policyFailed(fmt.Errorf("read policy: %w", err), nil)
		return false
	}
	var sig []byte
	if len(a.cfg.Keys) > 0 {
		if sig, err = trust.ReadSignature(a.cfg.PolicyPath); err != nil {
			a.policyFailed(err, data)
			return false
		}
	}
	h := sha256.New()
	h.Write(data)
	h.Write([]byte{0})
	h.Write(sig)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if a.polRead && sum == a.polHash {
		return false
	}
	a.polRead, a.polHash = true, sum
	signedBy := ""
	if len(a.cfg.Keys) > 0 {
		signedBy, err = a.cfg.Keys.Verify(data, sig)
		a.mu.Lock()
		a.view.signatureValid = err == nil
		a.mu.Unlock()
		if err != nil {
			a.metrics.signatureErrors.Inc()
			a.policyFailed(fmt.Errorf("policy signature (%s%s): %w", a.cfg.PolicyPath, trust.SigSuffix, err), data)
			return false
		}
	}
	pol, err := policy.Parse(data, a.cfg.Catalog)
	if err != nil {
		a.policyFailed(err, data)
		return false
	}
	old := a.version()
	a.pol = pol
	a.signedBy = signedBy
	a.judge(pol)
	// The operator may have fixed what pre-flight refused: judge again.
	for k, v := range a.verdicts {
		if v.reason != "" {
			delete(a.verdicts, k)
		}
	}
	a.mu.Lock()
	a.view.policyValid = true
	a.view.policyProblem = ""
	a.view.policyVersion = pol.Version
	a.view.loadedAt = a.cfg.Now()
	a.mu.Unlock()
	delete(a.failures, "policy")
	args := []any{"policy_version", pol.Version, "previous_version", old,
		"entries", len(pol.Entries), "exclusive", pol.Exclusive, "file", a.cfg.PolicyPath, "trigger", why, "trust", a.cfg.Trust.Level}
	if signedBy != "" {
		args = append(args, "signed_by", signedBy)
	}
	a.log.Info("policy loaded", args...)
	for _, rs := range a.refused {
		for _, r := range rs {
			a.log.Error("policy entry refused by this node's trust policy", "policy_version", pol.Version, "entry", r.Entry,
				"symbol", r.Symbol, "reason", r.Reason, "trust", a.cfg.Trust.Level, "err", r.Message)
		}
	}
	return true
}

// judge applies the node's trust rules to a new policy: refused entries
// are not applied at all, whichever of their targets was refused.
func (a *Agent) judge(pol *policy.Policy) {
	a.refused = map[string][]trust.Refusal{}
	for _, r := range a.cfg.Trust.Check(pol) {
		a.refused[r.Entry] = append(a.refused[r.Entry], r)
	}
}

func (a *Agent) policyFailed(err error, data []byte) {
	a.metrics.policyErrors.Inc()
	msg := err.Error()
	a.mu.Lock()
	a.view.policyValid = false
	a.view.policyProblem = msg
	a.mu.Unlock()
	if a.failures["policy"] == msg {
		return
	}
	a.failures["policy"] = msg
	keep := "no policy is applied yet: nothing is changed"
	if a.pol != nil {
		keep = "policy version " + a.pol.Version + " stays applied"
	}
	args := []any{"err", msg, "file", a.cfg.PolicyPath, "kept", keep}
	if data != nil {
		args = append(args, "sha256", fmt.Sprintf("%x", sha256.Sum256(data)))
	}
	a.log.Error("policy rejected", args...)
}

func (a *Agent) version() string {
	if a.pol == nil {
		return ""
	}
	return a.pol.Version
}

// logger is the log with the policy version on every line.
func (a *Agent) logger() *slog.Logger {
	return a.log.With("policy_version", a.version())
}

// instance identifies the loaded killswitch module: the inode of
// /sys/module/killswitch, which sysfs numbers anew on every load. 0 when
// not loaded or not known.
func (a *Agent) instance() uint64 {
	fi, err := a.cfg.FS.Stat(sysModuleDir + ModuleName)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// ReconcileOnce reads the policy and reconciles once, for tools and tests.
func (a *Agent) ReconcileOnce(ctx context.Context) []Status {
	a.readPolicy("once")
	a.reconcile(ctx, "once")
	return a.statuses.sorted()
}
