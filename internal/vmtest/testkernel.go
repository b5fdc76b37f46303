package vmtest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/testkernel"
)

// testKernelSource is the project's own test kernel (internal/testkernel):
// built from Debian's linux-source-6.1 with BPF override, fail_function and
// module signing, which the stock kernels lack. The first run builds it
// (minutes); later runs find it in the cache.
type testKernelSource struct {
	label   string
	variant string
	// lockdown, when set, boots the kernel as a Secure Boot host with an
	// enrolled MOK would run: module.sig_enforce=1 lockdown=<lockdown>,
	// our modules signed with the kernel's test key.
	lockdown string
	// suites, when set, replaces Kernel.Suites (make bench, the debug
	// kernel); env and suiteTimeout become the Kernel's fields.
	suites       string
	env          map[string]string
	suiteTimeout time.Duration
	accel        string
}

// TestKernel61 is the base variant: engagebpf, benchmarks and the Secure
// Boot cells run on it. What the stock kernels cannot show: BPF override
// through engagebpf, and ks-bpf-load on its own; plus a short stress and
// the fuzzer on a kernel with fail_function.
func TestKernel61() Source {
	return testKernelSource{
		label: "ks-6.1", variant: "base",
		suites: "30-engagebpf,40-bpf-load*,90-stress,91-fuzz,95-adversary",
		// Built with BPF override for these suites: a skip here means
		// the kernel or the suite broke (guest.NoSkipEnv).
		env:   map[string]string{"KS_STRESS_DURATION": "30s", "KS_NO_SKIP": "1"},
		accel: "tcg,thread=single",
	}
}

// TestKernel61Debug is the debug variant (test/kernels/debug.config:
// KASAN, lockdep, PROVE_RCU, DEBUG_OBJECTS, kmemleak): the module contract
// suite, five minutes of stress and the fuzzer, on a kernel that reports
// what a stock one hides. Everything runs about 14 times slower there,
// hence the longer limit per suite.
func TestKernel61Debug() Source {
	return testKernelSource{
		label: "ks-6.1-debug", variant: "debug",
		suites: "10-selftest,90-stress,91-fuzz,95-adversary",
		// The grammar is the same everywhere and the stock kernels take
		// 100k inputs each; here the point is KASAN and lockdep on every
		// path, which a tenth of that reaches at a fourteenth of the speed.
		env: map[string]string{
			"KS_STRESS_DURATION": "5m", "KS_KMEMLEAK": "1",
			"KS_FUZZ_INPUTS": "10000", "KS_FUZZ_RETVAL": "2000", "KS_FUZZ_MODPARAMS": "10",
		},
		suiteTimeout: 15 * time.Minute,
		accel:        "tcg,thread=single",
	}
}

// TestKernel61Lockdown is the base kernel booted as a Secure Boot host:
// signatures enforced, lockdown at level (integrity or confidentiality)
// from boot, our modules signed with the key its keyring trusts. Only the
// suites about that world run on it: 80-secureboot, and the privilege
// sweep, which checks the lockdown refusals when it sees lockdown on.
func TestKernel61Lockdown(level string) Source {
	return testKernelSource{label: "ks-6.1-" + level, variant: "base", lockdown: level}
}

// TestKernel61Bench is the same kernel booted for make bench alone: it runs
// the 85-bench suite and nothing else.
func TestKernel61Bench() Source {
	return testKernelSource{label: "ks-6.1-bench", variant: "base", suites: "85-bench"}
}

// Acquire builds (or finds) the kernel and describes it for the harness.
func (s testKernelSource) Acquire(ctx context.Context, env *Env) (*Kernel, error) {
	frags, err := testkernel.FindFragments()
	if err != nil {
		return nil, fmt.Errorf("finding the test kernel's config fragments: %w", err)
	}
	tk, err := testkernel.Build(ctx, testkernel.Options{
		Variant:   s.variant,
		Fragments: frags,
		Cache:     env.Cache,
		Log:       env.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("building test kernel %s: %w", s.label, err)
	}
	return s.describe(tk)
}

// describe turns a built test kernel into the harness's Kernel.
func (s testKernelSource) describe(tk *testkernel.Kernel) (*Kernel, error) {
	mods, err := builtModules(tk.ModulesDir)
	if err != nil {
		return nil, err
	}
	k := &Kernel{
		Label:      s.label,
		Arch:       X86_64(),
		Release:    tk.Release,
		Image:      tk.Bzimage,
		ModulesDir: tk.ModulesDir,
		KDIR:       tk.KDIR,
		Config:     filepath.Join(tk.KDIR, ".config"),
		// A trimmed kernel builds few modules: pack all of them, rather
		// than the stock list, most of which it builds in or leaves out.
		StockModules: mods,
		// What the stock kernels cannot show: BPF override through
		// engagebpf, and ks-bpf-load on its own.
		Suites:       "30-engagebpf,40-bpf-load*",
		Env:          s.env,
		SuiteTimeout: s.suiteTimeout,
		Accel:        s.accel,
	}
	if s.lockdown != "" {
		if tk.SigningKey == "" || tk.SigningCert == "" {
			return nil, fmt.Errorf("test kernel %s has no signing key in its kernel.json: rebuild it (remove %s)", s.label, tk.Dir)
		}
		k.Cmdline = []string{"module.sig_enforce=1", "lockdown=" + s.lockdown}
		k.SigningKey, k.SigningCert = tk.SigningKey, tk.SigningCert
		k.Suites = "80-secureboot,70-privilege,95-adversary"
	}
	if s.suites != "" {
		k.Suites = s.suites
	}
	return k, nil
}

// builtModules lists the module names under a /lib/modules/<release> tree.
func builtModules(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name, ok := strings.CutSuffix(d.Name(), ".ko"); ok && !d.IsDir() {
			names = append(names, strings.ReplaceAll(name, "-", "_"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the modules in %s: %w", dir, err)
	}
	sort.Strings(names)
	return names, nil
}

// buildBPF compiles the BPF test programs (test/bpf) and the catalog's
// engagebpf programs (mitigations/) with clang into a copy, and returns the
// directory holding the .bpf.o files for /ks/bpf.
func buildBPF(ctx context.Context, env *Env, repo string) (string, error) {
	if !exists(filepath.Join(repo, "test", "bpf", "Makefile")) {
		return "", fmt.Errorf("test/bpf/Makefile: %w", errNotYet)
	}
	base := filepath.Join(env.Cache, "build", "bpf")
	var unlocks []func()
	defer func() {
		for _, u := range unlocks {
			u()
		}
	}()
	for _, sub := range []string{"mitigations", filepath.Join("test", "bpf")} {
		unlock, err := freshCopy(ctx, filepath.Join(repo, sub), filepath.Join(base, sub))
		if err != nil {
			return "", err
		}
		unlocks = append(unlocks, unlock)
	}
	out := filepath.Join(base, "objects")
	if err := os.RemoveAll(out); err != nil {
		return "", fmt.Errorf("cleaning %s: %w", out, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", out, err)
	}
	for _, sub := range []string{"mitigations", filepath.Join("test", "bpf")} {
		dir := filepath.Join(base, sub)
		if err := run(ctx, env, "", "make", "-C", dir, jobs()); err != nil {
			return "", fmt.Errorf("building the BPF programs in %s: %w", sub, err)
		}
		objs, err := filepath.Glob(filepath.Join(dir, "*.bpf.o"))
		if err != nil {
			return "", err
		}
		for _, o := range objs {
			if err := copyFile(o, filepath.Join(out, filepath.Base(o))); err != nil {
				return "", fmt.Errorf("collecting %s: %w", o, err)
			}
		}
	}
	return out, nil
}
