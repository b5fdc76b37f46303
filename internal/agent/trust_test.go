package agent

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
	"github.com/killswitch/killswitch/internal/trust"
)

// trustCatalog is a catalog entry whose target is in the fake module.
var trustCatalog = policy.MapCatalog{"CVE-2026-00001": {CVE: "CVE-2026-00001", Actions: []policy.Action{
	{Symbol: "ks_test_bool", Verb: ksfs.VerbEngage, Retval: 0, Module: "ks_cat_mod"},
}}}

// The three entries a policy editor might write: a reviewed CVE, a raw
// symbol, and a raw symbol loading a module the catalog does not name.
const trustEntries = "entries:\n" +
	"  - {cve: CVE-2026-00001, load: true}\n" +
	"  - {symbol: ks_test_vuln, retval: -5}\n" +
	"  - {name: evil, symbol: __x64_sys_getppid, retval: 1, module: vulnerable_mod, load: true}\n"

// gauge is the value of the gauge name{label="value"} the agent exports.
func (e *env) gauge(name, label, value string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func TestTrustLevels(t *testing.T) {
	for _, tc := range []struct {
		name      string
		allowlist string // "" for none
		level     trust.Level
		statuses  string
		engaged   string
		modprobes string
		refused   map[string]float64
		ready     bool
	}{{
		name:      "catalog (the default)",
		level:     "",
		statuses:  "CVE-2026-00001/ks_test_bool=engaged evil/__x64_sys_getppid=refused ks_test_vuln/ks_test_vuln=refused",
		engaged:   "engage ks_test_bool 0 [engaged]",
		modprobes: "ks_cat_mod",
		refused:   map[string]float64{trust.ReasonSymbol: 2, trust.ReasonModule: 1},
	}, {
		name:      "allowlist",
		allowlist: "symbol ks_test_vuln -5\n",
		level:     trust.LevelAllowlist,
		statuses:  "CVE-2026-00001/ks_test_bool=engaged evil/__x64_sys_getppid=refused ks_test_vuln/ks_test_vuln=engaged",
		engaged:   "engage ks_test_bool 0 [engaged]; engage ks_test_vuln -5 [engaged]",
		modprobes: "ks_cat_mod",
		refused:   map[string]float64{trust.ReasonSymbol: 1, trust.ReasonModule: 1},
	}, {
		name:      "allowlist with the module",
		allowlist: "symbol ks_test_vuln\nsymbol __x64_sys_getppid\nmodule vulnerable_mod\n",
		level:     trust.LevelAllowlist,
		statuses:  "CVE-2026-00001/ks_test_bool=engaged evil/__x64_sys_getppid=engaged ks_test_vuln/ks_test_vuln=engaged",
		engaged:   "engage __x64_sys_getppid 1 [engaged]; engage ks_test_bool 0 [engaged]; engage ks_test_vuln -5 [engaged]",
		modprobes: "ks_cat_mod,vulnerable_mod",
		ready:     true,
	}, {
		name:      "any",
		level:     trust.LevelAny,
		statuses:  "CVE-2026-00001/ks_test_bool=engaged evil/__x64_sys_getppid=engaged ks_test_vuln/ks_test_vuln=engaged",
		engaged:   "engage __x64_sys_getppid 1 [engaged]; engage ks_test_bool 0 [engaged]; engage ks_test_vuln -5 [engaged]",
		modprobes: "ks_cat_mod,vulnerable_mod",
		ready:     true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.catalog = trustCatalog
			e.trust = trust.Rules{Level: tc.level}
			if tc.allowlist != "" {
				al, err := trust.ParseAllowlist([]byte(tc.allowlist), "/etc/killswitch/allowlist")
				if err != nil {
					t.Fatal(err)
				}
				e.trust.Allowlist = al
			}
			e.start()
			e.setPolicy("1", trustEntries)
			e.expect("statuses", e.reconcile(), tc.statuses)
			e.expect("module", e.engaged(), tc.engaged)
			e.expect("modprobes", strings.Join(e.modprobes, ","), tc.modprobes)
			for _, r := range trust.Reasons {
				if got := e.gauge("killswitch_policy_refused_entries", "reason", r); got != tc.refused[r] {
					t.Errorf("killswitch_policy_refused_entries{reason=%q} = %v, want %v", r, got, tc.refused[r])
				}
			}
			ready, why := e.a.Ready(time.Hour)
			if ready != tc.ready {
				t.Errorf("Ready() = %v (%s), want %v", ready, why, tc.ready)
			}
			if !tc.ready {
				e.logHas("policy entry refused by this node's trust policy")
				if !strings.Contains(why, "refused by this node's trust policy") {
					t.Errorf("Ready() reason %q", why)
				}
			}
			level := tc.level
			if level == "" {
				level = trust.LevelCatalog
			}
			if got := e.gauge("killswitch_agent_trust_level", "level", string(level)); got != 1 {
				t.Errorf("killswitch_agent_trust_level{level=%q} = %v, want 1", level, got)
			}
			if level == trust.LevelAny {
				e.logHas("trust level any")
			}
		})
	}
}

// An agent that made an engagement under --trust=any and restarts under
// the default no longer applies the raw entry: it disengages what it made.
func TestTrustDowngradePrunes(t *testing.T) {
	e := newEnv(t)
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.trust = trust.Rules{}
	e.start()
	e.expect("statuses", e.reconcile(), "ks_test_vuln/ks_test_vuln=refused")
	e.expect("module", e.engaged(), "")
}

func TestSignedPolicy(t *testing.T) {
	priv, pub, err := trust.GenerateKey("test", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := trust.ParsePublicKey("fleet.pub", pub)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.keys = trust.Keys{key}
	e.start()
	sign := func() {
		t.Helper()
		data, err := os.ReadFile(e.policy)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := trust.Sign(priv, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.policy+trust.SigSuffix, sig, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	notReady := func(want string) {
		t.Helper()
		if ok, why := e.a.Ready(time.Hour); ok || !strings.Contains(why, want) {
			t.Errorf("Ready() = %v, %q, want not ready with %q", ok, why, want)
		}
	}

	// Unsigned: refused, nothing engaged.
	e.setPolicy("1", "entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	e.expect("statuses unsigned", e.reconcile(), "")
	e.expect("module unsigned", e.engaged(), "")
	e.logHas("the policy is not signed")
	notReady("not signed")

	// Signed: applied.
	sign()
	e.expect("statuses signed", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.logHas("signed_by=fleet.pub")
	if ok, why := e.a.Ready(time.Hour); !ok {
		t.Errorf("signed policy: not ready: %s", why)
	}

	// Tampered after signing: refused, the signed version stays.
	e.setPolicy("2", "entries:\n  - {symbol: ks_test_vuln, retval: 1}\n")
	e.expect("statuses tampered", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.expect("module tampered", e.engaged(), "engage ks_test_vuln -5 [engaged]")
	e.logHas("does not match")
	notReady("policy rejected")
	if got := testutil.ToFloat64(e.a.metrics.signatureErrors); got != 2 {
		t.Errorf("signature_errors_total = %v, want 2", got)
	}

	// A new signature for the new file: applied.
	sign()
	e.expect("statuses re-signed", e.reconcile(), "ks_test_vuln/ks_test_vuln=engaged")
	e.expect("module re-signed", e.engaged(), "engage ks_test_vuln 1 [engaged]")
}

// A module that pre-flight finds missing while engaging is loaded only if
// the trust rules allow it, like the entry's own module.
func TestTrustModuleLoadOnTheWay(t *testing.T) {
	e := newEnv(t)
	e.trust = trust.Rules{}
	e.start()
	e.setPolicy("1", "entries: []\n")
	e.reconcile()
	cve := policy.Target{Entry: "CVE-2026-00001", CVE: "CVE-2026-00001", Symbol: "ks_test_bool", Load: true, CatalogModules: []string{"ks_cat_mod"}}
	for _, tc := range []struct {
		module string
		ok     bool
	}{
		{"ks_cat_mod", true},
		{"vulnerable_mod", false},
	} {
		e.modprobes = nil
		p := &pass{a: e.a, ctx: context.Background(), log: e.a.log, pol: e.a.pol, statuses: statusSet{}, errs: map[string]int{}}
		got := p.loadTarget(cve, tc.module)
		if got != tc.ok || (len(e.modprobes) == 1) != tc.ok {
			t.Errorf("loadTarget(%s) = %v, modprobes %v; want %v", tc.module, got, e.modprobes, tc.ok)
		}
		if !tc.ok {
			st := p.statuses.sorted()
			if len(st) != 1 || st[0].State != StateRefused || !strings.Contains(st[0].Reason, "loading module vulnerable_mod is not allowed") ||
				len(p.refused) != 1 || p.refused[0].Reason != trust.ReasonModule {
				t.Errorf("refusal not reported: %+v %+v", st, p.refused)
			}
		}
	}
}
