package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/ksfs/ksfstest"
	"github.com/killswitch/killswitch/internal/policy"
	"github.com/killswitch/killswitch/internal/trust"
)

// env is an agent on a fake host with the fake module.
type env struct {
	t         *testing.T
	m         *ksfstest.Module
	c         *ksfs.Client
	root      string
	policy    string
	stateDir  string
	now       time.Time
	modprobes []string
	log       bytes.Buffer
	reg       *prometheus.Registry
	a         *Agent
	catalog   policy.Catalog
	// trust is the node's trust policy; newEnv sets LevelAny, so the
	// tests of the mechanism may name test symbols (trust_test.go tests
	// the levels).
	trust trust.Rules
	keys  trust.Keys
}

const testHeader = "apiVersion: killswitch/v1\nkind: Policy\n"

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	m, err := ksfstest.New(root)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, m: m, c: ksfs.New(m), root: root, now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
		trust: trust.Rules{Level: trust.LevelAny}}
	e.policy = filepath.Join(t.TempDir(), "policy.yaml")
	e.stateDir = t.TempDir()
	e.write("/proc/sys/kernel/osrelease", "6.1.0-56-amd64\n")
	e.write("/proc/sys/kernel/version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-11-01)\n")
	e.write("/proc/sys/kernel/random/boot_id", "b00t\n")
	e.write("/proc/uptime", "100.00 50.00\n")
	e.write("/sys/module/killswitch/initstate", "live\n")
	e.write("/sys/module/test_killswitch/initstate", "live\n")
	e.start()
	return e
}

// start (re)creates the agent, as a restart of killswitchd would.
func (e *env) start() {
	e.t.Helper()
	e.reg = prometheus.NewRegistry()
	a, err := New(Config{
		PolicyPath: e.policy,
		StateDir:   e.stateDir,
		FS:         e.m,
		Catalog:    e.catalog,
		Trust:      e.trust,
		Keys:       e.keys,
		LoadModule: true,
		Modprobe: func(_ context.Context, name string) error {
			e.modprobes = append(e.modprobes, name)
			if name == ModuleName {
				return e.m.Load("")
			}
			e.write("/sys/module/"+name+"/initstate", "live\n")
			return nil
		},
		Log:        slog.New(slog.NewTextHandler(&e.log, nil)),
		Now:        func() time.Time { return e.now },
		Registerer: e.reg,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.a = a
}

func (e *env) write(name, content string) {
	e.t.Helper()
	p := e.m.Path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) setPolicy(version, entries string) {
	e.t.Helper()
	doc := testHeader + "version: \"" + version + "\"\n" + entries
	if err := os.WriteFile(e.policy, []byte(doc), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// reconcile runs one pass and returns the statuses as "entry/symbol=state".
func (e *env) reconcile() string {
	e.t.Helper()
	var out []string
	for _, s := range e.a.ReconcileOnce(context.Background()) {
		out = append(out, s.Entry+"/"+s.Symbol+"="+string(s.State))
	}
	return strings.Join(out, " ")
}

// engaged renders the module's engagements: "sym:shape:state" sorted.
func (e *env) engaged() string {
	e.t.Helper()
	list, err := e.c.Engagements()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, g := range list {
		out = append(out, shapeOf(g)+" ["+string(g.State)+"]")
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func (e *env) since(sym string) time.Duration {
	e.t.Helper()
	g, err := e.c.Engagement(sym)
	if err != nil {
		e.t.Fatal(err)
	}
	return g.Since
}

// advance moves the clock and the fake kernel's uptime together.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.now = e.now.Add(d)
	if err := e.m.Advance(d); err != nil {
		e.t.Fatal(err)
	}
	b, _ := os.ReadFile(e.m.Path("/proc/uptime"))
	var up float64
	fmt.Sscan(string(b), &up)
	e.write("/proc/uptime", fmt.Sprintf("%.2f 0.00\n", up+d.Seconds()))
}

func (e *env) owned() []string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.stateDir, StateFile))
	if err != nil {
		return nil
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for sym := range st.Owned {
		out = append(out, sym)
	}
	sort.Strings(out)
	return out
}

func (e *env) expect(what, got, want string) {
	e.t.Helper()
	if got != want {
		e.t.Errorf("%s:\n got: %s\nwant: %s\nlog:\n%s", what, got, want, e.log.String())
	}
}

func (e *env) logHas(s string) {
	e.t.Helper()
	if !strings.Contains(e.log.String(), s) {
		e.t.Errorf("log lacks %q:\n%s", s, e.log.String())
	}
}

func (e *env) actions(action string) float64 {
	return testutil.ToFloat64(e.a.metrics.actions.WithLabelValues(action, "ok"))
}

func TestApplyChangeRemove(t *testing.T) {
	e := newEnv(t)
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.expect("module", e.engaged(), "engage ks_test_vuln -5 [engaged]")
	e.expect("owned", strings.Join(e.owned(), ","), "ks_test_vuln")
	e.logHas(`msg=engaged policy_version=1 symbol=ks_test_vuln`)
	e.logHas(`msg="policy applied"`)

	// Nothing to do the second time.
	before := e.actions("engage")
	e.reconcile()
	if got := e.actions("engage"); got != before {
		t.Errorf("second pass engaged again: %v -> %v", before, got)
	}

	// A new retval is written live: same engagement, same since.
	since := e.since("ks_test_vuln")
	e.advance(10 * time.Second)
	e.setPolicy("2", "entries:\n  - {symbol: ks_test_vuln, retval: -7}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.expect("module", e.engaged(), "engage ks_test_vuln -7 [engaged]")
	if e.since("ks_test_vuln") != since {
		t.Errorf("retval change re-engaged: since %v -> %v", since, e.since("ks_test_vuln"))
	}
	e.logHas(`msg="changed the return value" policy_version=2 symbol=ks_test_vuln entry=ks_test_vuln from=-7`[:60])

	// New filters need a new engagement.
	e.setPolicy("3", "entries:\n  - {symbol: ks_test_vuln, retval: -7, filters: [\"uid!=0\"]}\n")
	e.reconcile()
	e.expect("module", e.engaged(), "engage ks_test_vuln -7 uid!=0 [engaged]")
	e.logHas("disengaged to engage anew")

	// Add a second target, then remove the first.
	e.setPolicy("4", "entries:\n  - {symbol: ks_test_vuln, retval: -7, filters: [\"uid!=0\"]}\n  - {name: ppid, symbol: __x64_sys_getppid, retval: 4242}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged ppid/__x64_sys_getppid=engaged")
	e.setPolicy("5", "entries:\n  - {name: ppid, symbol: __x64_sys_getppid, retval: 4242}\n")
	e.expect("statuses", e.reconcile(), "ppid/__x64_sys_getppid=engaged")
	e.expect("module", e.engaged(), "engage __x64_sys_getppid 4242 [engaged]")
	e.logHas(`msg=disengaged policy_version=5 symbol=ks_test_vuln entry=ks_test_vuln because="entry ks_test_vuln is no longer in the policy"`)

	// Rollback: the empty policy removes everything the agent made.
	e.setPolicy("6", "entries: []\n")
	e.expect("statuses", e.reconcile(), "")
	e.expect("module", e.engaged(), "")
	e.expect("owned", strings.Join(e.owned(), ","), "")
}

func TestOperatorEngagements(t *testing.T) {
	tests := []struct {
		name      string
		policy    string
		statuses  string
		engaged   string
		owned     string
		logs      string
		errReason string
	}{
		{"not in the policy: left alone",
			"entries:\n  - {symbol: ks_test_vuln, retval: -5}\n",
			"ks_test_vuln/ks_test_vuln=engaged",
			"engage __x64_sys_getppid 1 [engaged]; engage ks_test_vuln -5 [engaged]", "ks_test_vuln", "", ""},
		{"same as the policy: held, not owned",
			"entries:\n  - {symbol: __x64_sys_getppid, retval: 1}\n",
			"__x64_sys_getppid/__x64_sys_getppid=held",
			"engage __x64_sys_getppid 1 [engaged]", "", "target held", ""},
		{"different: conflict",
			"entries:\n  - {symbol: __x64_sys_getppid, retval: 2}\n",
			"__x64_sys_getppid/__x64_sys_getppid=conflict",
			"engage __x64_sys_getppid 1 [engaged]", "", "set adopt: true on the entry", "conflict"},
		{"different, adopt: taken over",
			"entries:\n  - {symbol: __x64_sys_getppid, retval: 2, adopt: true}\n",
			"__x64_sys_getppid/__x64_sys_getppid=engaged",
			"engage __x64_sys_getppid 2 [engaged]", "__x64_sys_getppid", "adopting an engagement", ""},
		{"exclusive: disengaged",
			"exclusive: true\nentries:\n  - {symbol: ks_test_vuln, retval: -5}\n",
			"ks_test_vuln/ks_test_vuln=engaged",
			"engage ks_test_vuln -5 [engaged]", "ks_test_vuln", "the policy is exclusive", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.c.Engage("__x64_sys_getppid", 1); err != nil {
				t.Fatal(err)
			}
			e.setPolicy("1", tt.policy)
			e.expect("statuses", e.reconcile(), tt.statuses)
			e.expect("module", e.engaged(), tt.engaged)
			e.expect("owned", strings.Join(e.owned(), ","), tt.owned)
			if tt.logs != "" {
				e.logHas(tt.logs)
			}
			if tt.errReason != "" {
				if got := testutil.ToFloat64(e.a.metrics.reconcileErrors.WithLabelValues(tt.errReason)); got != 1 {
					t.Errorf("reconcile_errors_total{reason=%q} = %v, want 1", tt.errReason, got)
				}
			}
			// An empty policy never removes what the agent did not make.
			if !strings.Contains(tt.policy, "exclusive") && tt.owned == "" {
				e.setPolicy("2", "entries: []\n")
				e.reconcile()
				e.expect("after an empty policy", e.engaged(), "engage __x64_sys_getppid 1 [engaged]")
			}
		})
	}
}

func TestModuleReload(t *testing.T) {
	e := newEnv(t)
	if err := e.m.Unload(); err != nil {
		t.Fatal(err)
	}
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	// Absent at start: the agent loads it.
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.expect("modprobes", strings.Join(e.modprobes, ","), "killswitch")
	e.logHas("loaded the killswitch module")

	// rmmod; insmod by someone else, with an operator engagement at load.
	e.advance(5 * time.Second)
	if err := e.m.Unload(); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Load("__x64_sys_getppid=3"); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second)
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.expect("module", e.engaged(), "engage __x64_sys_getppid 3 [engaged]; engage ks_test_vuln -5 [engaged]")
	e.logHas("engagement lost")
	e.expect("modprobes", strings.Join(e.modprobes, ","), "killswitch")
}

func TestModuleNotLoadable(t *testing.T) {
	e := newEnv(t)
	e.m.Unload()
	e.a.cfg.Modprobe = func(context.Context, string) error {
		return fmt.Errorf("modprobe killswitch: exit status 1: FATAL: Module killswitch not found")
	}
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=waiting")
	e.reconcile()
	if n := strings.Count(e.log.String(), "cannot load the killswitch module"); n != 1 {
		t.Errorf("the same failure was logged %d times, want once", n)
	}
	if got := testutil.ToFloat64(e.a.metrics.reconcileErrors.WithLabelValues("module")); got != 2 {
		t.Errorf("module errors %v, want 2", got)
	}
}

func TestInvalidPolicyKeepsState(t *testing.T) {
	e := newEnv(t)
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.reconcile()
	before := e.engaged()
	for _, bad := range []string{
		"entries:\n  - {symbol: ks_test_vuln, retval: -5, retvl: 1}\n",
		"entries:\n  - {symbol: ks_test_vuln, retval: -5}\n  - {symbol: other, retval: oops}\n",
		"entries: [\n",
	} {
		e.setPolicy("2", bad)
		e.reconcile()
		e.expect("module after "+bad, e.engaged(), before)
		if v := testutil.ToFloat64(e.a.metrics.policyErrors); v == 0 {
			t.Error("load errors not counted")
		}
	}
	e.logHas(`msg="policy rejected"`)
	e.logHas(`kept="policy version 1 stays applied"`)
	// Missing file: nothing changes either.
	os.Remove(e.policy)
	e.reconcile()
	e.expect("module without a file", e.engaged(), before)
	e.logHas("no such file or directory (write one")

	// Invalid at start: nothing applied, nothing removed.
	e.setPolicy("3", "entries:\n  - {symbol: ks_test_vuln, retval: -5, bogus: 1}\n")
	e.start()
	e.reconcile()
	e.expect("module after a restart with a bad file", e.engaged(), before)
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	exp := e.now.Add(30 * time.Second).Format(time.RFC3339)
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5, expires: "+exp+"}\n  - {name: gone, symbol: f, retval: -1, expires: 2026-01-01T00:00:00Z}\n")
	e.expect("statuses", e.reconcile(), "gone/f=expired ks_test_vuln/ks_test_vuln=engaged")
	if want := e.now.Add(30 * time.Second); !e.a.nextExpiry.Equal(want) {
		t.Errorf("next expiry %v, want %v", e.a.nextExpiry, want)
	}
	e.advance(30 * time.Second)
	e.expect("statuses", e.reconcile(), "gone/f=expired ks_test_vuln/ks_test_vuln=expired")
	e.expect("module", e.engaged(), "")
	e.logHas("because=\"entry ks_test_vuln expired: expired at " + exp + "\"")
}

func TestKernelSelector(t *testing.T) {
	e := newEnv(t)
	e.setPolicy("1", `entries:
  - {name: old, symbol: a, retval: -1, kernel: {version: "<6.1.100"}}
  - {name: ours, symbol: b, retval: -1, kernel: {version: ">=6.1 <6.1.200", release: "6.1.0-*-amd64"}}
  - {name: arm, symbol: c, retval: -1, kernel: {release: "*-arm64"}}
`)
	e.expect("statuses", e.reconcile(), "arm/c=not-selected old/a=not-selected ours/b=engaged")
}

func TestPreflightAndKernelRefusals(t *testing.T) {
	e := newEnv(t)
	e.write("/sys/kernel/debug/kprobes/blacklist", "0xffffffff81000000-0xffffffff81000010\tnotify_die\n")
	e.m.SetBlacklist("hidden_fn")
	e.setPolicy("1", `entries:
  - {symbol: notify_die, retval: -1}
  - {symbol: hidden_fn, retval: -1}
  - {symbol: ks_test_vuln, retval: -5}
`)
	e.expect("statuses", e.reconcile(), "hidden_fn/hidden_fn=refused ks_test_vuln/ks_test_vuln=engaged notify_die/notify_die=refused")
	e.expect("module", e.engaged(), "engage ks_test_vuln -5 [engaged]")
	e.logHas("pre-flight refused it: blacklist: notify_die is on the kprobe blacklist")
	e.logHas(`msg="the kernel refused a change"`)
	st := e.a.statuses[statusKey{"hidden_fn", "hidden_fn"}]
	if !strings.Contains(st.Reason, "the kprobe layer cannot probe it") {
		t.Errorf("hidden_fn reason: %s", st.Reason)
	}

	// A change pre-flight refuses keeps the working engagement.
	e.write("/sys/module/killswitch/parameters/guard", "Y\n")
	e.setPolicy("2", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n  - {symbol: security_file_open, retval: -1}\n")
	e.reconcile()
	e.setPolicy("3", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n  - {symbol: security_file_open, retval: 0}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged security_file_open/security_file_open=refused")
	e.expect("module", e.engaged(), "engage ks_test_vuln -5 [engaged]; engage security_file_open -1 [engaged]")
}

func TestTargetModule(t *testing.T) {
	e := newEnv(t)
	e.setPolicy("1", `entries:
  - {name: wait, symbol: esp_input, retval: -22, module: esp4}
  - {name: load, symbol: af_alg_sendmsg, retval: -1, module: af_alg, load: true}
`)
	e.expect("statuses", e.reconcile(), "load/af_alg_sendmsg=engaged wait/esp_input=waiting")
	e.expect("modprobes", strings.Join(e.modprobes, ","), "af_alg")
	e.logHas("module esp4, which holds esp_input, is not loaded")
	// The module appears (a uevent would trigger this pass).
	e.write("/sys/module/esp4/initstate", "live\n")
	e.expect("statuses", e.reconcile(), "load/af_alg_sendmsg=engaged wait/esp_input=engaged")
}

func TestTryEngage(t *testing.T) {
	e := newEnv(t)
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5, verb: tryengage, probe: 10s}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=probing")
	e.advance(11 * time.Second)
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.logHas("tryengage committed")

	// Another symbol is called during its probe: aborted, not retried.
	e.setPolicy("2", "entries:\n  - {symbol: ks_test_vuln, retval: -5, verb: tryengage, probe: 10s}\n  - {symbol: busy_fn, retval: -1, verb: tryengage, probe: 10s}\n")
	e.expect("statuses", e.reconcile(), "busy_fn/busy_fn=probing ks_test_vuln/ks_test_vuln=engaged")
	if _, _, err := e.m.Call("busy_fn", "worker", 42, 0); err != nil {
		t.Fatal(err)
	}
	e.advance(11 * time.Second)
	e.expect("statuses", e.reconcile(), "busy_fn/busy_fn=aborted ks_test_vuln/ks_test_vuln=engaged")
	e.expect("statuses", e.reconcile(), "busy_fn/busy_fn=aborted ks_test_vuln/ks_test_vuln=engaged")
	e.expect("module", e.engaged(), "engage ks_test_vuln -5 [engaged]")
	// Aborts survive a restart, and a changed entry tries again.
	e.start()
	e.expect("statuses after restart", e.reconcile(), "busy_fn/busy_fn=aborted ks_test_vuln/ks_test_vuln=engaged")
	e.setPolicy("3", "entries:\n  - {symbol: ks_test_vuln, retval: -5, verb: tryengage, probe: 10s}\n  - {symbol: busy_fn, retval: -1}\n")
	e.expect("statuses", e.reconcile(), "busy_fn/busy_fn=engaged ks_test_vuln/ks_test_vuln=engaged")
}

func TestObserveThenEngage(t *testing.T) {
	e := newEnv(t)
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, verb: observe}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=observing")
	since := e.since("ks_test_vuln")
	e.advance(5 * time.Second)
	e.setPolicy("2", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.logHas("converted from observe, no gap")
	if e.since("ks_test_vuln") != since {
		t.Error("observe was not converted in place")
	}
}

func TestRestartKeepsOwnership(t *testing.T) {
	e := newEnv(t)
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.reconcile()
	e.start()
	e.expect("statuses after restart", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.setPolicy("2", "entries: []\n")
	e.reconcile()
	e.expect("module", e.engaged(), "")

	// A record from another boot is forgotten.
	e.setPolicy("3", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.reconcile()
	e.write("/proc/sys/kernel/random/boot_id", "other\n")
	e.start()
	e.logHas("is from another boot")
	e.expect("statuses after reboot", e.reconcile(), "ks_test_vuln/ks_test_vuln=held")
}

// A record the agent never completed (it died between the write and the
// read-back of since) proves nothing: the engagement is left alone.
func TestCrashBeforeReadBack(t *testing.T) {
	e := newEnv(t)
	st := newState("b00t")
	st.Owned["ks_test_vuln"] = &owned{Entry: "ks_test_vuln", Symbol: "ks_test_vuln", Retval: -5,
		Shape: "engage ks_test_vuln -5", Verb: ksfs.VerbEngage, Command: "engage ks_test_vuln -5"}
	if err := st.save(filepath.Join(e.stateDir, StateFile)); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Engage("ks_test_vuln", -5); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=held")
	e.setPolicy("2", "entries: []\n")
	e.reconcile()
	e.expect("module", e.engaged(), "engage ks_test_vuln -5 [engaged]")
	e.logHas("never completed")
}

func TestOwnedOurs(t *testing.T) {
	rec := owned{Symbol: "f", Retval: -5, Filter: "uid!=0", Shape: "engage f -5 uid!=0", Since: 120}
	eng := ksfs.Engagement{Symbol: "f", State: ksfs.StateEngaged, Retval: -5, Filter: "uid!=0", Since: 120*time.Second + 300*time.Millisecond}
	for _, tc := range []struct {
		name string
		rec  func(*owned)
		eng  func(*ksfs.Engagement)
		want bool
	}{
		{"all match", nil, nil, true},
		{"probing still ours", nil, func(e *ksfs.Engagement) { e.State = ksfs.StateProbing }, true},
		{"other since", nil, func(e *ksfs.Engagement) { e.Since = 121 * time.Second }, false},
		{"other retval", nil, func(e *ksfs.Engagement) { e.Retval = 1 }, false},
		{"other filters", nil, func(e *ksfs.Engagement) { e.Filter = "uid=1000" }, false},
		{"observed now", nil, func(e *ksfs.Engagement) { e.State = ksfs.StateObserving }, false},
		{"other symbol", nil, func(e *ksfs.Engagement) { e.Symbol = "g" }, false},
		{"module does not say since", nil, func(e *ksfs.Engagement) { e.Since = 0 }, false},
		{"record without since", func(o *owned) { o.Since = 0 }, nil, false},
		{"record without symbol (old schema)", func(o *owned) { o.Symbol = "" }, nil, false},
		{"record without shape", func(o *owned) { o.Shape = "" }, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, e := rec, eng
			if tc.rec != nil {
				tc.rec(&o)
			}
			if tc.eng != nil {
				tc.eng(&e)
			}
			if got := o.ours(e); got != tc.want {
				t.Errorf("ours() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCVEEntries(t *testing.T) {
	e := newEnv(t)
	e.catalog = policy.MapCatalog{"CVE-2026-43284": {CVE: "CVE-2026-43284", Actions: []policy.Action{
		{Symbol: "esp_input", Verb: ksfs.VerbEngage, Retval: -22, Module: "esp4"},
		{Symbol: "esp6_input", Verb: ksfs.VerbEngage, Retval: -22, Module: "esp6"},
	}}, "CVE-2026-31431": {CVE: "CVE-2026-31431", Actions: []policy.Action{
		{Symbol: "af_alg_sendmsg", Verb: ksfs.VerbEngage, Retval: -1, Module: "af_alg"},
	}, Fixed: func(k policy.Kernel) bool {
		return k.Version.Compare(policy.Version{Major: 6, Minor: 1, Patch: 150}) >= 0
	}}}
	e.start()
	e.setPolicy("1", "entries:\n  - {cve: CVE-2026-43284, load: true}\n  - cve: CVE-2026-31431\n")
	e.expect("statuses", e.reconcile(), "CVE-2026-31431/af_alg_sendmsg=fixed CVE-2026-43284/esp6_input=engaged CVE-2026-43284/esp_input=engaged")
	e.expect("modprobes", strings.Join(e.modprobes, ","), "esp4,esp6")
	e.logHas("cve=CVE-2026-43284")
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	if err := e.c.Engage("__x64_sys_getppid", 1); err != nil {
		t.Fatal(err)
	}
	e.setPolicy("v42", "entries:\n  - {symbol: ks_test_vuln, retval: -5, filters: [\"uid!=0\"]}\n  - {name: gone, symbol: f, retval: -1, expires: 2026-01-01T00:00:00Z}\n")
	e.reconcile()
	for i := 0; i < 3; i++ {
		e.m.Call("ks_test_vuln", "t", 1, 1000)
	}
	e.m.Call("ks_test_vuln", "t", 1, 0)
	e.m.Miss("ks_test_vuln")

	problems, err := testutil.CollectAndLint(e.a.metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	want := `
# HELP killswitch_engagement_hits_total Calls the engagement's filters selected (fn/<sym>/hits): overridden while engaged, only counted while probing or observing.
# TYPE killswitch_engagement_hits_total counter
killswitch_engagement_hits_total{symbol="__x64_sys_getppid"} 0
killswitch_engagement_hits_total{symbol="ks_test_vuln"} 3
# HELP killswitch_engagement_passed_total Calls the filters let through to the function (fn/<sym>/passed).
# TYPE killswitch_engagement_passed_total counter
killswitch_engagement_passed_total{symbol="__x64_sys_getppid"} 0
killswitch_engagement_passed_total{symbol="ks_test_vuln"} 1
# HELP killswitch_engagement_missed_total Calls where the probe could not run and the function ran: the override failed open (fn/<sym>/missed).
# TYPE killswitch_engagement_missed_total counter
killswitch_engagement_missed_total{symbol="__x64_sys_getppid"} 0
killswitch_engagement_missed_total{symbol="ks_test_vuln"} 1
# HELP killswitch_engagement_info One per engagement in the module: who owns it (agent or other), the policy entry, the filters.
# TYPE killswitch_engagement_info gauge
killswitch_engagement_info{entry="",filter="",owner="other",symbol="__x64_sys_getppid"} 1
killswitch_engagement_info{entry="ks_test_vuln",filter="uid!=0",owner="agent",symbol="ks_test_vuln"} 1
# HELP killswitch_engagement_retval The value the function returns while engaged (fn/<sym>/retval).
# TYPE killswitch_engagement_retval gauge
killswitch_engagement_retval{symbol="__x64_sys_getppid"} 1
killswitch_engagement_retval{symbol="ks_test_vuln"} -5
# HELP killswitch_module_loaded 1 if the killswitch module's securityfs interface is present.
# TYPE killswitch_module_loaded gauge
killswitch_module_loaded 1
# HELP killswitch_policy_info The valid policy in force, by version.
# TYPE killswitch_policy_info gauge
killswitch_policy_info{version="v42"} 1
# HELP killswitch_policy_valid 1 if the policy file parsed when last read; 0 means it is rejected and the previous version stays.
# TYPE killswitch_policy_valid gauge
killswitch_policy_valid 1
# HELP killswitch_policy_applied 1 if the last reconcile met every applicable target of the policy without a problem.
# TYPE killswitch_policy_applied gauge
killswitch_policy_applied 1
# HELP killswitch_kernel_info The running kernel: release (uname -r) and upstream version.
# TYPE killswitch_kernel_info gauge
killswitch_kernel_info{release="6.1.0-56-amd64",version="6.1.192"} 1
# HELP killswitch_lockdown_level The kernel lockdown level: 1 for the active one.
# TYPE killswitch_lockdown_level gauge
killswitch_lockdown_level{level="confidentiality"} 0
killswitch_lockdown_level{level="integrity"} 0
killswitch_lockdown_level{level="none"} 1
# HELP killswitch_agent_owned_engagements Engagements the agent made and answers for.
# TYPE killswitch_agent_owned_engagements gauge
killswitch_agent_owned_engagements 1
`
	names := []string{"killswitch_engagement_hits_total", "killswitch_engagement_passed_total", "killswitch_engagement_missed_total",
		"killswitch_engagement_info", "killswitch_engagement_retval", "killswitch_module_loaded", "killswitch_policy_info",
		"killswitch_policy_valid", "killswitch_policy_applied", "killswitch_kernel_info", "killswitch_lockdown_level",
		"killswitch_agent_owned_engagements"}
	if err := testutil.CollectAndCompare(e.a.metrics, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// Entry states: one series per state, the current one at 1.
	want = `
# HELP killswitch_policy_entry_state Where each target of each policy entry stands: 1 for the current state.
# TYPE killswitch_policy_entry_state gauge
`
	for _, st := range []struct{ entry, sym, state string }{{"gone", "f", "expired"}, {"ks_test_vuln", "ks_test_vuln", "engaged"}} {
		for _, s := range AllTargetStates {
			want += fmt.Sprintf("killswitch_policy_entry_state{entry=%q,state=%q,symbol=%q} %d\n", st.entry, s, st.sym, b2i(string(s) == st.state))
		}
	}
	if err := testutil.CollectAndCompare(e.a.metrics, strings.NewReader(want), "killswitch_policy_entry_state"); err != nil {
		t.Error(err)
	}

	// since is the module's boot-relative time, as Unix time.
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "killswitch_engagement_since_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			// Engaged at uptime 100s; now is uptime 100s.
			if got, want := m.GetGauge().GetValue(), float64(e.now.Unix()); got != want {
				t.Errorf("since %v, want %v", got, want)
			}
		}
	}

	// The module unloaded: no engagements, loaded 0.
	e.m.Unload()
	if got := testutil.ToFloat64(collectorFor(e.a.metrics, "killswitch_module_loaded")); got != 0 {
		t.Errorf("module_loaded %v after unload", got)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// collectorFor narrows a collector to one metric family, for ToFloat64.
func collectorFor(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() {
		f.c.Collect(all)
		close(all)
	}()
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+f.name+`"`) {
			ch <- m
		}
	}
}
