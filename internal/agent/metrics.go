package agent

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/trust"
)

const namespace = "killswitch"

// Reasons counted by killswitch_agent_reconcile_errors_total.
var errorReasons = []string{"policy", "module", "read", "state", "disengage", "trust",
	string(StateRefused), string(StateConflict), string(StateAborted), string(StateFailed)}

// metrics are the agent's Prometheus metrics. Counters it keeps itself;
// the module's state is read at scrape time (Collect), so a scrape shows
// exactly what the module's files say at that moment.
type metrics struct {
	a *Agent

	reconciles      prometheus.Counter
	reconcileErrors *prometheus.CounterVec
	duration        prometheus.Histogram
	actions         *prometheus.CounterVec
	policyErrors    prometheus.Counter
	signatureErrors prometheus.Counter

	moduleLoaded, lockdown, kernel                   *prometheus.Desc
	hits, passed, missed, state, retval, since, left *prometheus.Desc
	engInfo, bpfInfo                                 *prometheus.Desc
	polInfo, polValid, polLoaded                     *prometheus.Desc
	polApplied, polAppliedAt, entryState             *prometheus.Desc
	owned, lastReconcile, build                      *prometheus.Desc
	trustLevel, refused, sigValid                    *prometheus.Desc
}

func newMetrics(a *Agent) *metrics {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	m := &metrics{
		a: a,
		reconciles: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "agent", Name: "reconciles_total",
			Help: "Reconcile passes run (at start, on policy and module events, on expiry and every interval)."}),
		reconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "agent", Name: "reconcile_errors_total",
			Help: "Problems met by reconcile passes, by reason; a problem that persists counts on every pass."}, []string{"reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "agent", Name: "reconcile_duration_seconds",
			Help: "Time a reconcile pass took.", Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10}}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "agent", Name: "actions_total",
			Help: "Changes the agent made or tried: engage, tryengage, observe, set_retval, disengage, modprobe."}, []string{"action", "result"}),
		policyErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "policy", Name: "load_errors_total",
			Help: "Reads of the policy file that failed or found it invalid (the last valid policy stays in force)."}),
		signatureErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "policy", Name: "signature_errors_total",
			Help: "Reads of the policy that found it unsigned or badly signed while this node requires a signature (nothing changes)."}),

		moduleLoaded: desc("module_loaded", "1 if the killswitch module's securityfs interface is present."),
		lockdown:     desc("lockdown_level", "The kernel lockdown level: 1 for the active one.", "level"),
		kernel:       desc("kernel_info", "The running kernel: release (uname -r) and upstream version.", "release", "version"),
		hits:         desc("engagement_hits_total", "Calls the engagement's filters selected (fn/<sym>/hits): overridden while engaged, only counted while probing or observing.", "symbol"),
		passed:       desc("engagement_passed_total", "Calls the filters let through to the function (fn/<sym>/passed).", "symbol"),
		missed:       desc("engagement_missed_total", "Calls where the probe could not run and the function ran: the override failed open (fn/<sym>/missed).", "symbol"),
		state:        desc("engagement_state", "The engagement's state (fn/<sym>/state): 1 for the current one.", "symbol", "state"),
		retval:       desc("engagement_retval", "The value the function returns while engaged (fn/<sym>/retval).", "symbol"),
		since:        desc("engagement_since_timestamp_seconds", "When the engagement was made (fn/<sym>/since, as Unix time).", "symbol"),
		left:         desc("engagement_probe_remaining_seconds", "Seconds left of a tryengage probe (fn/<sym>/timeout_left).", "symbol"),
		engInfo:      desc("engagement_info", "One per engagement in the module: who owns it (agent or other), the policy entry, the filters.", "symbol", "owner", "entry", "filter"),
		bpfInfo:      desc("bpf_engagement_info", "One per engagebpf pin under /sys/fs/bpf/killswitch.", "symbol", "pin"),
		polInfo:      desc("policy_info", "The valid policy in force, by version.", "version"),
		polValid:     desc("policy_valid", "1 if the policy file parsed when last read; 0 means it is rejected and the previous version stays."),
		polLoaded:    desc("policy_loaded_timestamp_seconds", "When the policy in force was loaded."),
		polApplied:   desc("policy_applied", "1 if the last reconcile met every applicable target of the policy without a problem."),
		polAppliedAt: desc("policy_applied_timestamp_seconds", "When the policy in force was first fully applied; 0 if it has not been."),
		entryState:   desc("policy_entry_state", "Where each target of each policy entry stands: 1 for the current state.", "entry", "symbol", "state"),
		owned:        desc("agent_owned_engagements", "Engagements the agent made and answers for."),
		lastReconcile: desc("agent_last_reconcile_timestamp_seconds",
			"When the last reconcile pass ended."),
		build:      desc("agent_build_info", "The agent's build.", "goversion"),
		trustLevel: desc("agent_trust_level", "The node's trust level for the policy (--trust): 1 for the one in force. any means whoever edits the policy is root on the node.", "level"),
		refused:    desc("policy_refused_entries", "Targets of the policy in force that this node's trust policy refuses (not applied), by reason: raw-symbol, retval, module.", "reason"),
		sigValid:   desc("policy_signature_valid", "1 if the policy last read carried a good signature by one of the node's keys (only with --trust-keys)."),
	}
	for _, r := range errorReasons {
		m.reconcileErrors.WithLabelValues(r)
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.reconciles, m.reconcileErrors, m.duration, m.actions, m.policyErrors, m.signatureErrors, m} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) action(name string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.actions.WithLabelValues(name, result).Inc()
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.moduleLoaded, m.lockdown, m.kernel, m.hits, m.passed, m.missed, m.state, m.retval,
		m.since, m.left, m.engInfo, m.bpfInfo, m.polInfo, m.polValid, m.polLoaded, m.polApplied, m.polAppliedAt, m.entryState,
		m.owned, m.lastReconcile, m.build, m.trustLevel, m.refused, m.sigValid} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the module is read now.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	a := m.a
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	unix := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}

	gauge(m.kernel, 1, a.kernel.Release, a.kernel.Version.String())
	gauge(m.build, 1, runtime.Version())
	if l, err := a.client.Lockdown(); err == nil {
		for _, lv := range []ksfs.Lockdown{ksfs.LockdownNone, ksfs.LockdownIntegrity, ksfs.LockdownConfidentiality} {
			gauge(m.lockdown, b2f(l == lv), string(lv))
		}
	}

	a.mu.Lock()
	v := a.view
	a.mu.Unlock()

	loaded := a.client.Loaded()
	gauge(m.moduleLoaded, b2f(loaded))
	if list, err := a.client.Engagements(); err == nil {
		now := a.cfg.Now()
		boot := time.Time{}
		if up, err := readUptime(a.cfg.FS); err == nil {
			boot = now.Add(-up)
		}
		for _, e := range list {
			if e.BPFPin != "" {
				gauge(m.bpfInfo, 1, e.Symbol, e.BPFPin)
				continue
			}
			counter(m.hits, float64(e.Hits), e.Symbol)
			counter(m.passed, float64(e.Passed), e.Symbol)
			counter(m.missed, float64(e.Missed), e.Symbol)
			gauge(m.retval, float64(e.Retval), e.Symbol)
			gauge(m.left, e.TimeoutLeft.Seconds(), e.Symbol)
			for _, st := range []ksfs.State{ksfs.StateEngaged, ksfs.StateProbing, ksfs.StateObserving} {
				gauge(m.state, b2f(e.State == st), e.Symbol, string(st))
			}
			if e.Since > 0 && !boot.IsZero() {
				gauge(m.since, float64(boot.Add(e.Since).Unix()), e.Symbol)
			}
			owner, entry := "other", ""
			if en, ok := v.owned[e.Symbol]; ok {
				owner, entry = "agent", en
			}
			gauge(m.engInfo, 1, e.Symbol, owner, entry, e.Filter)
		}
	}

	if v.policyVersion != "" {
		gauge(m.polInfo, 1, v.policyVersion)
		gauge(m.polLoaded, unix(v.loadedAt))
		applied := time.Time{}
		if v.appliedVersion == v.policyVersion {
			applied = v.appliedAt
		}
		gauge(m.polAppliedAt, unix(applied))
	}
	gauge(m.polValid, b2f(v.policyValid))
	gauge(m.polApplied, b2f(v.applied))
	for _, st := range v.statuses {
		for _, s := range AllTargetStates {
			gauge(m.entryState, b2f(st.State == s), st.Entry, st.Symbol, string(s))
		}
	}
	gauge(m.owned, float64(len(v.owned)))
	for _, l := range trust.Levels {
		gauge(m.trustLevel, b2f(a.cfg.Trust.Level == l), string(l))
	}
	byReason := map[string]int{}
	for _, r := range v.refused {
		byReason[r.Reason]++
	}
	for _, r := range trust.Reasons {
		gauge(m.refused, float64(byReason[r]), r)
	}
	if len(a.cfg.Keys) > 0 {
		gauge(m.sigValid, b2f(v.signatureValid))
	}
	gauge(m.lastReconcile, unix(v.lastReconcile))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
