package bpfload

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// TestProjectObjects compiles the project's BPF C with clang, as the VM
// tests do, and checks that ks-bpf-load would pick the intended program
// from each object. Skipped where clang is missing.
func TestProjectObjects(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not installed")
	}
	multiarch, _ := exec.Command("gcc", "-print-multiarch").Output()
	sources, _ := filepath.Glob("../../mitigations/cve-*.bpf.c")
	tests, _ := filepath.Glob("../../test/bpf/*.bpf.c")
	sources = append(sources, tests...)
	if len(sources) < 10 {
		t.Fatalf("found only %d BPF sources", len(sources))
	}
	dir := t.TempDir()
	for _, src := range sources {
		t.Run(filepath.Base(src), func(t *testing.T) {
			obj := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c")+".o")
			args := []string{"-target", "bpf", "-O2", "-g", "-Wall", "-Werror", "-I../../mitigations", "-c", src, "-o", obj}
			if m := strings.TrimSpace(string(multiarch)); m != "" {
				args = append(args, "-I/usr/include/"+m)
			} else if runtime.GOARCH == "amd64" {
				args = append(args, "-I/usr/include/x86_64-linux-gnu")
			}
			if out, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
				t.Fatalf("clang %s: %v\n%s", src, err, out)
			}
			spec, err := ebpf.LoadCollectionSpec(obj)
			if err != nil {
				t.Fatalf("LoadCollectionSpec: %v", err)
			}
			name, err := SelectKprobe(spec)
			if err != nil {
				t.Fatal(err)
			}
			p := spec.Programs[name]
			if p.License != "GPL" {
				t.Errorf("program %s has license %q; bpf_override_return needs GPL", name, p.License)
			}
			if sym, ok := strings.CutPrefix(p.SectionName, "kprobe/"); ok && name != "ks_"+sym {
				t.Errorf("program %s in section %s: want it named ks_%s", name, p.SectionName, sym)
			}
		})
	}
}
