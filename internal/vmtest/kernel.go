package vmtest

import (
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Kernel is a kernel the harness can boot and build modules for. Every
// source of kernels (Debian's packages, a custom build from
// internal/testkernel, a cross-arch image) produces one of these; nothing
// after acquisition knows where a kernel came from.
type Kernel struct {
	// Label names the kernel in flags, output and KS_KERNEL.
	Label string
	// Arch is the machine the kernel runs on.
	Arch Arch
	// Release is the kernel's uname -r.
	Release string
	// Image is the bootable kernel image (bzImage on x86_64).
	Image string
	// ModulesDir is the kernel's /lib/modules/<Release> tree; it must hold
	// modules.dep (and modules.builtin when the kernel has built-in modules).
	ModulesDir string
	// KDIR is the kbuild tree for out-of-tree modules: make -C KDIR M=dir.
	KDIR string
	// Config is the kernel's .config ("" when unknown); the guest gets it at
	// /boot/config-<Release>, where killswitch doctor and check read it.
	Config string
	// Cmdline is added to the kernel command line (e.g. lockdown=integrity).
	Cmdline []string
	// StockModules, when not nil, replaces the run's stock module list for
	// this kernel (a custom kernel may build in or leave out some of them).
	StockModules []string
	// Suites, when not empty, are comma-separated globs: only the suites
	// they match run on this kernel (the run's -suites still applies);
	// when empty, every suite but the dedicated ones (dedicatedSuites) runs.
	Suites string
	// SigningKey and SigningCert, when set, are a key pair the kernel
	// trusts: our modules are signed with it (scripts/sign-modules) and
	// an unsigned killswitch.ko goes to /ks/unsigned/ for the suites
	// that prove signature enforcement.
	SigningKey, SigningCert string
	// Env is exported to every suite on this kernel, e.g. how long the
	// stress runs there. It travels as ks.env=KEY=VAL on the command line
	// (checkEnv's rules); the run's -env entries override it.
	Env map[string]string
	// SuiteTimeout, when longer than the run's -suite-timeout, is this
	// kernel's limit per suite (a slow debug kernel, a long stress).
	SuiteTimeout time.Duration
	// Accel, when not empty, replaces the value of the architecture's
	// -accel option (e.g. "tcg,thread=single").
	Accel string
}

// dedicatedSuites run only on kernels whose Suites name them: each needs a
// kernel built or booted for it (signature enforcement, the debug kernel,
// the benchmark set-up), and anywhere else it could only skip.
var dedicatedSuites = map[string]bool{
	"80-secureboot": true,
	"85-bench":      true,
	// Minutes of load: only where a kernel's Env gives it a duration.
	"90-stress": true,
}

// runsSuite reports whether the suite named name runs on k: every suite but
// the dedicated ones when k.Suites is empty, otherwise those k.Suites match.
func (k *Kernel) runsSuite(name string) bool {
	if strings.TrimSpace(k.Suites) == "" {
		return !dedicatedSuites[name]
	}
	for _, p := range strings.Split(k.Suites, ",") {
		if ok, _ := path.Match(strings.TrimSpace(p), name); ok {
			return true
		}
	}
	return false
}

// Source acquires one kernel, downloading or building it when the cache does
// not already hold it.
type Source interface {
	Acquire(ctx context.Context, env *Env) (*Kernel, error)
}

// Env is what a Source may use: the cache root, a place for progress
// messages and a way to run commands.
type Env struct {
	// Cache is $KS_CACHE.
	Cache string
	// Log receives progress lines meant for the person running the harness.
	Log io.Writer
	// Verbose also streams the output of long commands to Log.
	Verbose bool
}

// Logf prints one progress line.
func (e *Env) Logf(format string, args ...any) {
	fmt.Fprintf(e.Log, format+"\n", args...)
}

// Catalog maps kernel labels to their sources.
type Catalog map[string]Source

// DefaultCatalog holds the kernels every run can use. Add custom kernels
// (internal/testkernel) or other architectures here.
func DefaultCatalog() Catalog {
	return Catalog{
		"debian-6.1":       Debian61(),
		"debian-6.12":      Debian612(),
		"debian-6.1-arm64": Debian61Arm64(),
		"ks-6.1":           TestKernel61(),
		"ks-6.1-debug":     TestKernel61Debug(),

		// Secure Boot stand-ins: signatures enforced, lockdown on.
		"ks-6.1-integrity":       TestKernel61Lockdown("integrity"),
		"ks-6.1-confidentiality": TestKernel61Lockdown("confidentiality"),

		// make bench: the base kernel, 85-bench alone.
		"ks-6.1-bench": TestKernel61Bench(),
	}
}

// DefaultKernels is what runs when -kernels is not given.
const DefaultKernels = "debian-6.1,debian-6.12,debian-6.1-arm64,ks-6.1,ks-6.1-debug,ks-6.1-integrity,ks-6.1-confidentiality"

// Lookup resolves a comma-separated list of labels, in order.
func (c Catalog) Lookup(labels string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.Split(labels, ",") {
		l = strings.TrimSpace(l)
		if l == "" || seen[l] {
			continue
		}
		if _, ok := c[l]; !ok {
			return nil, fmt.Errorf("unknown kernel %q (known: %s)", l, strings.Join(c.Labels(), ", "))
		}
		seen[l] = true
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no kernel selected (known: %s)", strings.Join(c.Labels(), ", "))
	}
	return out, nil
}

// Labels lists the catalog's labels, sorted.
func (c Catalog) Labels() []string {
	labels := make([]string, 0, len(c))
	for l := range c {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	return labels
}

// envKeyRE is what a ks.env key may be: KS_ names only, so that a kernel
// cannot replace PATH or what init itself exports.
var envKeyRE = regexp.MustCompile(`^KS_[A-Z0-9_]+$`)

// checkEnv fails unless every entry can travel on the kernel command line
// as ks.env=KEY=VAL: a KS_ key other than KS_KERNEL and KS_ARCH (init sets
// those) and a value of printable characters without white space or quotes
// (the kernel splits its command line there).
func checkEnv(env map[string]string) error {
	for k, v := range env {
		if !envKeyRE.MatchString(k) || k == "KS_KERNEL" || k == "KS_ARCH" {
			return fmt.Errorf("suite environment %q: the name must be KS_ followed by capitals, digits or _, and not KS_KERNEL or KS_ARCH (init sets those)", k)
		}
		for _, c := range v {
			if c <= ' ' || c > '~' || c == '"' {
				return fmt.Errorf("suite environment %s=%q: the value must be printable ASCII without spaces or quotes, as it travels on the kernel command line", k, v)
			}
		}
	}
	return nil
}

// mergeEnv is base with over's entries replacing its own.
func mergeEnv(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// envArgs renders env as ks.env=KEY=VAL command-line items, sorted.
func envArgs(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, "ks.env="+k+"="+v)
	}
	sort.Strings(out)
	return out
}
