package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/killswitch/killswitch/internal/policy"
)

// objects is a decoded manifest set.
type objects struct {
	daemonSets      []*appsv1.DaemonSet
	configMaps      []*corev1.ConfigMap
	services        []*corev1.Service
	namespaces      []*corev1.Namespace
	serviceMonitors []*monitoringv1.ServiceMonitor
}

// decodeStrict decodes a multi-document manifest with the Kubernetes API
// types, refusing unknown fields and unknown kinds.
func decodeStrict(t *testing.T, name string, data []byte) *objects {
	t.Helper()
	out := &objects{}
	for i, doc := range splitDocuments(data) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s document %d: %v", name, i, err)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 DaemonSet":
			o := &appsv1.DaemonSet{}
			out.daemonSets, obj = append(out.daemonSets, o), o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			out.configMaps, obj = append(out.configMaps, o), o
		case "v1 Service":
			o := &corev1.Service{}
			out.services, obj = append(out.services, o), o
		case "v1 Namespace":
			o := &corev1.Namespace{}
			out.namespaces, obj = append(out.namespaces, o), o
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o := &monitoringv1.ServiceMonitor{}
			out.serviceMonitors, obj = append(out.serviceMonitors, o), o
		default:
			t.Fatalf("%s document %d: unexpected %s %s", name, i, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s document %d (%s): %v", name, i, head.Kind, err)
		}
	}
	return out
}

// splitDocuments splits a YAML stream at "---" lines, dropping empty
// documents (comments only).
func splitDocuments(data []byte) [][]byte {
	var out [][]byte
	for _, doc := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		empty := true
		for _, line := range strings.Split(string(doc), "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				empty = false
			}
		}
		if !empty {
			out = append(out, doc)
		}
	}
	return out
}

// checkAgent checks what every killswitchd DaemonSet must have, however it
// was produced: privileged, the host paths, the policy mounted from its
// ConfigMap, and a policy that the agent accepts.
func checkAgent(t *testing.T, objs *objects) {
	t.Helper()
	if len(objs.daemonSets) != 1 {
		t.Fatalf("%d DaemonSets, want 1", len(objs.daemonSets))
	}
	ds := objs.daemonSets[0]
	spec := ds.Spec.Template.Spec
	if ds.Spec.Selector == nil {
		t.Fatal("DaemonSet without a selector")
	}
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels %v", k, v, ds.Spec.Template.Labels)
		}
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Error("the agent's container must be privileged: it writes securityfs as CAP_SYS_ADMIN of the host and runs modprobe")
	}
	if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool { return tl.Operator == corev1.TolerationOpExists && tl.Key == "" }) {
		t.Error("the agent must tolerate every taint: a node without it is unmitigated")
	}

	hostPaths := map[string]string{} // volume name -> host path
	var policyVolume string
	for _, v := range spec.Volumes {
		switch {
		case v.HostPath != nil:
			hostPaths[v.Name] = v.HostPath.Path
		case v.ConfigMap != nil:
			policyVolume = v.Name
			found := len(objs.configMaps) == 0 // an existing ConfigMap
			for _, cm := range objs.configMaps {
				found = found || cm.Name == v.ConfigMap.Name
			}
			if !found {
				t.Errorf("volume %s mounts ConfigMap %s, which is not in the manifests", v.Name, v.ConfigMap.Name)
			}
		}
	}
	mounts := map[string]string{} // mount path -> volume
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	for _, p := range []string{"/sys/kernel/security", "/sys/fs/bpf", "/lib/modules", "/sys/module", "/run/killswitchd"} {
		vol, ok := mounts[p]
		if !ok {
			t.Errorf("nothing is mounted at %s", p)
			continue
		}
		if hostPaths[vol] != p {
			t.Errorf("%s is mounted from volume %s (host path %q), want the host's %s", p, vol, hostPaths[vol], p)
		}
	}
	if mounts["/etc/killswitch"] != policyVolume || policyVolume == "" {
		t.Errorf("/etc/killswitch is not the policy ConfigMap (mounted: %v)", mounts)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--policy=/etc/killswitch/policy.yaml", "--state-dir=/run/killswitchd", "--metrics-address=", "--trust="} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || !strings.Contains(args, fmt.Sprintf(":%d", c.Ports[0].ContainerPort)) {
		t.Errorf("the metrics port %v does not match the args %q", c.Ports, args)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("no /healthz liveness probe")
	}
	// Readiness must fail on a rejected policy or a trust refusal, which
	// only /readyz reports.
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("no /readyz readiness probe")
	}
	// The trust policy's files come from the node, never from the
	// ConfigMap its editors can change.
	for _, a := range c.Args {
		for _, flag := range []string{"--trust-keys=", "--trust-allowlist="} {
			path, ok := strings.CutPrefix(a, flag)
			if !ok {
				continue
			}
			vol := ""
			for _, m := range c.VolumeMounts {
				if path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/") {
					vol = m.Name
				}
			}
			if _, host := hostPaths[vol]; !host {
				t.Errorf("%s%s is not on a hostPath volume (volume %q): the policy's editors could change it", flag, path, vol)
			}
		}
	}
	for _, cm := range objs.configMaps {
		data, ok := cm.Data["policy.yaml"]
		if !ok {
			t.Errorf("ConfigMap %s has no policy.yaml", cm.Name)
			continue
		}
		if _, err := policy.Parse([]byte(data), nil); err != nil {
			t.Errorf("ConfigMap %s: the agent would reject its policy: %v", cm.Name, err)
		}
	}
	for _, svc := range objs.services {
		for k, v := range svc.Spec.Selector {
			if ds.Spec.Template.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the pods do not carry", svc.Name, k, v)
			}
		}
	}
	for _, sm := range objs.serviceMonitors {
		if len(sm.Spec.Endpoints) == 0 || sm.Spec.Endpoints[0].Port != "metrics" {
			t.Errorf("ServiceMonitor %s does not scrape the metrics port", sm.Name)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	all := &objects{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		o := decodeStrict(t, f, data)
		all.daemonSets = append(all.daemonSets, o.daemonSets...)
		all.configMaps = append(all.configMaps, o.configMaps...)
		all.services = append(all.services, o.services...)
		all.namespaces = append(all.namespaces, o.namespaces...)
		all.serviceMonitors = append(all.serviceMonitors, o.serviceMonitors...)
	}
	checkAgent(t, all)
	if len(all.configMaps) != 1 || len(all.serviceMonitors) != 1 || len(all.namespaces) != 1 {
		t.Errorf("want one ConfigMap, ServiceMonitor and Namespace, have %d, %d, %d", len(all.configMaps), len(all.serviceMonitors), len(all.namespaces))
	}
}

// TestStrictDecodingCatches proves the decoding above is strict: a typo
// in a field name fails.
func TestStrictDecodingCatches(t *testing.T) {
	var ds appsv1.DaemonSet
	err := yaml.UnmarshalStrict([]byte("apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  updateStrategy:\n    typ: RollingUpdate\n"), &ds)
	if err == nil || !strings.Contains(err.Error(), "typ") {
		t.Errorf("a misspelt field was accepted: %v", err)
	}
}

func TestPolicyExamples(t *testing.T) {
	files, _ := filepath.Glob("policy/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example policies")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := policy.Parse(data, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
