package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// helmVersion is the helm the tests build from the Go module proxy.
const helmVersion = "v3.22.0"

const chart = "helm/killswitch"

// helm returns a helm binary: $HELM, or the pinned version built once with
// go install into $KS_CACHE/gobin (about 7 minutes cold on two shared
// cores, mostly downloading; instant afterwards).
func helm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HELM"); p != "" {
		return p
	}
	cache := os.Getenv("KS_CACHE")
	if cache == "" {
		cache = "/var/cache/killswitch"
	}
	dir := filepath.Join(cache, "gobin", "helm-"+helmVersion)
	bin := filepath.Join(dir, "helm")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if testing.Short() {
		t.Skipf("-short: not building helm %s (set HELM, or run once without -short)", helmVersion)
	}
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".helm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, goTool, "install", "helm.sh/helm/v3/cmd/helm@"+helmVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building helm %s from the module proxy: %v\n%s", helmVersion, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(bin); serr != nil {
			t.Fatalf("installing helm in %s: %v", dir, err)
		}
	}
	t.Logf("built helm %s in %v", helmVersion, time.Since(start).Round(time.Second))
	return bin
}

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	// Keep helm's own state out of the user's home.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestHelmLint(t *testing.T) {
	for _, set := range [][]string{
		nil,
		{"--set", "serviceMonitor.enabled=true"},
		{"--set", "rollout.ring=canary", "--set-file", "policyYAML=policy/example.yaml"},
	} {
		out, err := runHelm(t, append([]string{"lint", "--strict", chart}, set...)...)
		if err != nil {
			t.Errorf("helm lint %v: %v\n%s", set, err, out)
		}
	}
}

func TestHelmTemplate(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, o *objects)
	}{
		{"defaults", nil, func(t *testing.T, o *objects) {
			if len(o.configMaps) != 1 || len(o.serviceMonitors) != 0 || len(o.services) != 0 {
				t.Errorf("want one ConfigMap and no monitoring objects: %d, %d, %d", len(o.configMaps), len(o.serviceMonitors), len(o.services))
			}
			if o.daemonSets[0].Spec.Template.Annotations["killswitch.io/policy-sha256"] == "" {
				t.Error("rolling policy rollout without the policy checksum on the pods")
			}
			if args := strings.Join(o.daemonSets[0].Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--trust=catalog") || strings.Contains(args, "--trust-keys") {
				t.Errorf("default args %q: want --trust=catalog and no keys", args)
			}
		}},
		{"service monitor", []string{"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prom"}, func(t *testing.T, o *objects) {
			if len(o.serviceMonitors) != 1 || len(o.services) != 1 {
				t.Fatalf("want a Service and a ServiceMonitor: %d, %d", len(o.services), len(o.serviceMonitors))
			}
			if o.serviceMonitors[0].Labels["release"] != "prom" {
				t.Errorf("ServiceMonitor labels %v", o.serviceMonitors[0].Labels)
			}
		}},
		{"canary ring with a policy file", []string{"--set", "rollout.ring=canary", "--set-file", "policyYAML=policy/example.yaml"}, func(t *testing.T, o *objects) {
			expr := nodeAffinity(t, o)
			if len(expr) != 1 || expr[0].Key != "killswitch.io/ring" || expr[0].Operator != corev1.NodeSelectorOpIn || expr[0].Values[0] != "canary" {
				t.Errorf("canary affinity %+v", expr)
			}
			if !strings.Contains(o.configMaps[0].Data["policy.yaml"], "dirty-frag-v4") {
				t.Error("policyYAML did not reach the ConfigMap")
			}
		}},
		{"fleet without the canaries", []string{"--set", "rollout.excludeRings={canary,early}"}, func(t *testing.T, o *objects) {
			expr := nodeAffinity(t, o)
			if len(expr) != 1 || expr[0].Operator != corev1.NodeSelectorOpNotIn || strings.Join(expr[0].Values, ",") != "canary,early" {
				t.Errorf("fleet affinity %+v", expr)
			}
		}},
		{"existing ConfigMap, immediate rollout", []string{"--set", "existingConfigMap=ops-policy", "--set", "policyRollout=immediate"}, func(t *testing.T, o *objects) {
			if len(o.configMaps) != 0 {
				t.Error("rendered a ConfigMap although one exists")
			}
			if o.daemonSets[0].Spec.Template.Annotations != nil {
				t.Errorf("immediate rollout still annotates the pods: %v", o.daemonSets[0].Spec.Template.Annotations)
			}
			if v := o.daemonSets[0].Spec.Template.Spec.Volumes[0]; v.ConfigMap == nil || v.ConfigMap.Name != "ops-policy" {
				t.Errorf("policy volume %+v", v)
			}
		}},
		{"trust level, allowlist and keys from the node", []string{"--set", "trust.level=allowlist", "--set", "trust.allowlist=/etc/killswitch/allowlist",
			"--set", "trust.keysDir=/etc/killswitch/keys", "--set", "policySignature=c2ln"}, func(t *testing.T, o *objects) {
			args := strings.Join(o.daemonSets[0].Spec.Template.Spec.Containers[0].Args, " ")
			for _, want := range []string{"--trust=allowlist", "--trust-allowlist=/etc/killswitch-node/allowlist", "--trust-keys=/etc/killswitch-keys"} {
				if !strings.Contains(args, want) {
					t.Errorf("args %q lack %s", args, want)
				}
			}
			if o.configMaps[0].Data["policy.yaml.sig"] != "c2ln" {
				t.Errorf("ConfigMap data %v lacks the signature", o.configMaps[0].Data)
			}
		}},
		{"policy as values", []string{"--set", "policy.version=7", "--set-json", `policy.entries=[{"symbol":"af_alg_sendmsg","retval":-1,"module":"af_alg","load":true,"expires":"2027-01-01T00:00:00Z"}]`}, func(t *testing.T, o *objects) {
			if !strings.Contains(o.configMaps[0].Data["policy.yaml"], "af_alg_sendmsg") {
				t.Error("policy entries did not reach the ConfigMap")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runHelm(t, append([]string{"template", "ks", chart, "--namespace", "killswitch"}, tt.args...)...)
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, out)
			}
			o := decodeStrict(t, "helm template", []byte(out))
			checkAgent(t, o)
			tt.check(t, o)
		})
	}
}

func nodeAffinity(t *testing.T, o *objects) []corev1.NodeSelectorRequirement {
	t.Helper()
	a := o.daemonSets[0].Spec.Template.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		t.Fatal("no required node affinity")
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 {
		t.Fatalf("%d node selector terms", len(terms))
	}
	return terms[0].MatchExpressions
}

func TestHelmRejects(t *testing.T) {
	for _, args := range [][]string{
		{"--set", "bogus=1"},
		{"--set", "policy.apiVersion=killswitch/v2"},
		{"--set", "logFormat=xml"},
		{"--set", "metrics.prot=1"},
		{"--set", "trust.level=all"},
	} {
		out, err := runHelm(t, append([]string{"template", "ks", chart}, args...)...)
		if err == nil {
			t.Errorf("helm template %v succeeded; the values schema should refuse it", args)
		} else if !strings.Contains(out, "values don't meet the specifications of the schema") && !strings.Contains(out, "not allowed") {
			t.Logf("helm template %v: %s", args, out)
		}
	}
}

func TestHelmPolicyChecksum(t *testing.T) {
	sum := func(version string) string {
		out, err := runHelm(t, "template", "ks", chart, "--set", "policy.version="+version)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return decodeStrict(t, "helm template", []byte(out)).daemonSets[0].Spec.Template.Annotations["killswitch.io/policy-sha256"]
	}
	if a, b := sum("1"), sum("2"); a == b {
		t.Error("a policy change does not change the pod template: it would not roll out")
	}
}
