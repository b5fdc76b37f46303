package deploy

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/killswitch/killswitch/internal/agent"
	"github.com/killswitch/killswitch/internal/ksfs/ksfstest"
	"github.com/killswitch/killswitch/internal/trust"
)

// TestAlerts parses the alerting rules as Prometheus does (rule file
// structure, PromQL, annotation templates) and checks that every metric
// they use is one killswitchd exports.
func TestAlerts(t *testing.T) {
	pql := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile("prometheus/alerts.yaml", false, model.UTF8Validation, pql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.Fatal("no rule groups")
	}
	exported := agentMetrics(t)
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule without alert:", g.Name)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s twice", r.Alert)
			}
			seen[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: every alert needs a severity label and a summary", r.Alert)
			}
			expr, err := pql.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok || vs.Name == "up" {
					return nil
				}
				if !slices.Contains(exported, vs.Name) {
					t.Errorf("%s uses %s, which killswitchd does not export", r.Alert, vs.Name)
				}
				return nil
			})
		}
	}
	for _, want := range []string{"KillswitchEngagedFunctionCalled", "KillswitchPolicyNotApplied", "KillswitchPolicyRejected", "KillswitchPolicyRefusedByTrust"} {
		if !seen[want] {
			t.Errorf("no %s alert", want)
		}
	}
}

// agentMetrics runs the agent once against the fake module and lists the
// metric names it exports.
func agentMetrics(t *testing.T) []string {
	t.Helper()
	root := t.TempDir()
	m, err := ksfstest.New(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"/proc/sys/kernel/osrelease": "6.1.0-56-amd64\n",
		"/proc/uptime":               "100.0 0.0\n",
	} {
		p := m.Path(name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(pol, []byte("apiVersion: killswitch/v1\nkind: Policy\nversion: t\nentries:\n  - {symbol: f, retval: -1}\n"), 0o644)
	reg := prometheus.NewRegistry()
	// --trust=any: the test engages a test symbol, so that every
	// engagement metric is exported.
	a, err := agent.New(agent.Config{PolicyPath: pol, StateDir: t.TempDir(), FS: m, Registerer: reg, Trust: trust.Rules{Level: trust.LevelAny},
		Modprobe: func(context.Context, string) error { return nil }, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a.ReconcileOnce(context.Background())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		if strings.HasSuffix(mf.GetName(), "_seconds") && mf.GetType().String() == "HISTOGRAM" {
			names = append(names, mf.GetName()+"_bucket", mf.GetName()+"_sum", mf.GetName()+"_count")
		}
	}
	return names
}
