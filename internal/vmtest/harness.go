package vmtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

// Options configure a harness run. Zero values take the defaults noted.
type Options struct {
	// Repo is the checkout to build from (found from the working
	// directory when empty).
	Repo string
	// Cache is $KS_CACHE (/var/cache/killswitch).
	Cache string
	// Kernels is a comma-separated list of catalog labels
	// (DefaultKernels).
	Kernels string
	// Suites is a comma-separated list of globs on suite names (all).
	Suites string
	// Timeout bounds the whole run (80m: cold kernel builds included); SuiteTimeout each suite in the
	// guest (5m). A guest silent for SuiteTimeout+2m is declared hung.
	Timeout      time.Duration
	SuiteTimeout time.Duration
	// Env is exported to the suites on every kernel, over each kernel's
	// own Env (e.g. KS_STRESS_DURATION=30m for a longer stress).
	Env map[string]string
	// Verbose streams consoles, build output and kernel logs.
	Verbose bool
	// Keep keeps initramfs images and logs under $KS_CACHE/runs/.
	Keep bool
	// Go is the go command building guest binaries ("go").
	Go string
	// StockModules are the distribution modules put in every initramfs
	// (DefaultStockModules()).
	StockModules []string
	// MemoryMB and CPUs size the VMs (2048, 2).
	MemoryMB, CPUs int
	// Parallel is how many VMs run at once (2). Suites spend most of their
	// time in one vCPU or asleep: two VMs on a 2-core host take each about
	// as long as one alone (measured: 114 s instead of 220 s for two
	// kernels).
	Parallel int
	// Catalog maps labels to kernel sources (DefaultCatalog()).
	Catalog Catalog
	// PrebuiltModules is a directory of modules built elsewhere (a DKMS
	// build, a distribution package) that replace ours of the same name;
	// {release} and {arch} are replaced per kernel, e.g.
	// /var/lib/dkms/killswitch/0.1/{release}/{arch}/module. Empty: ours only.
	PrebuiltModules string
	// Out receives the report (os.Stdout).
	Out io.Writer
}

func (o *Options) setDefaults() error {
	if o.Repo == "" {
		repo, err := FindRepo()
		if err != nil {
			return err
		}
		o.Repo = repo
	}
	defaults := []struct {
		cond bool
		set  func()
	}{
		{o.Cache == "", func() { o.Cache = CacheDir() }},
		{o.Kernels == "", func() { o.Kernels = DefaultKernels }},
		{o.Timeout == 0, func() { o.Timeout = 80 * time.Minute }},
		{o.SuiteTimeout == 0, func() { o.SuiteTimeout = 5 * time.Minute }},
		{o.Go == "", func() { o.Go = "go" }},
		{o.StockModules == nil, func() { o.StockModules = DefaultStockModules() }},
		{o.MemoryMB == 0, func() { o.MemoryMB = 2048 }},
		{o.CPUs == 0, func() { o.CPUs = 2 }},
		{o.Parallel <= 0, func() { o.Parallel = 2 }},
		{o.Catalog == nil, func() { o.Catalog = DefaultCatalog() }},
		{o.Out == nil, func() { o.Out = os.Stdout }},
	}
	for _, d := range defaults {
		if d.cond {
			d.set()
		}
	}
	return nil
}

// CacheDir is $KS_CACHE, by default /var/cache/killswitch.
func CacheDir() string {
	if c := os.Getenv("KS_CACHE"); c != "" {
		return c
	}
	return "/var/cache/killswitch"
}

// FindRepo walks up from the working directory to the killswitch checkout.
func FindRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the checkout: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/killswitch/killswitch\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the killswitch checkout (no go.mod of github.com/killswitch/killswitch above the working directory)")
		}
		dir = parent
	}
}

// harness is one run's state.
type harness struct {
	o      Options
	env    *Env
	out    *printer
	runDir string
	width  int
}

// Run boots every selected kernel, runs the suites and prints the report.
// The returned tally sums all kernels, run-level problems (timeouts, kernel
// bugs, a kernel that could not be prepared) counted as failures. The error
// is for a run that could not start at all.
func Run(ctx context.Context, o Options) (vmproto.Tally, error) {
	if err := o.setDefaults(); err != nil {
		return vmproto.Tally{}, err
	}
	if err := checkEnv(o.Env); err != nil {
		return vmproto.Tally{}, err
	}
	labels, err := o.Catalog.Lookup(o.Kernels)
	if err != nil {
		return vmproto.Tally{}, err
	}
	all, err := discoverSuites(o.Repo)
	if err != nil {
		return vmproto.Tally{}, err
	}
	suites, err := selectSuites(all, o.Suites)
	if err != nil {
		return vmproto.Tally{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	h := &harness{o: o, out: &printer{w: o.Out}}
	h.env = &Env{Cache: o.Cache, Log: &prefixWriter{p: h.out, prefix: "[vmtest] "}, Verbose: o.Verbose}
	for _, l := range labels {
		h.width = max(h.width, len(l))
	}
	if err := h.makeRunDir(); err != nil {
		return vmproto.Tally{}, err
	}
	defer h.cleanup()

	// Kernels first: the architectures to build for come from them.
	kernels, prepErr := h.acquireAll(ctx, labels)

	guests := map[string]*guestFiles{}
	for _, l := range labels {
		k := kernels[l]
		if k == nil || guests[k.Arch.Name] != nil || prepErr[l] != nil {
			continue
		}
		g, err := h.buildGuest(ctx, k.Arch, suites)
		if err != nil {
			return vmproto.Tally{}, err
		}
		guests[k.Arch.Name] = g
	}

	// Up to Parallel VMs at once; reports keep the label order.
	reports := make([]*kernelReport, len(labels))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for _, i := range launchOrder(labels, kernels) {
		l := labels[i]
		r := newKernelReport(l, h.width, h.out, o.Verbose)
		reports[i] = r
		if err := prepErr[l]; err != nil {
			r.problem(err.Error())
			r.report()
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h.runKernel(ctx, kernels[l], guests[kernels[l].Arch.Name], r)
		}()
	}
	wg.Wait()
	var total vmproto.Tally
	for _, r := range reports {
		t := r.result()
		total.Passed += t.Passed
		total.Failed += t.Failed
	}
	h.out.Println("")
	for _, r := range reports {
		h.out.Printf("%-*s  %s", h.width, r.label, r.result())
	}
	if o.Keep {
		h.out.Printf("kept images and logs in %s", h.runDir)
	}
	h.out.Println(total.String())
	return total, nil
}

// acquireAll acquires the kernels concurrently: resolving and unpacking
// are mostly waiting on apt and dpkg-deb.
func (h *harness) acquireAll(ctx context.Context, labels []string) (map[string]*Kernel, map[string]error) {
	type acquired struct {
		label string
		k     *Kernel
		err   error
	}
	ch := make(chan acquired, len(labels))
	for _, l := range labels {
		go func() {
			start := time.Now()
			k, err := h.o.Catalog[l].Acquire(ctx, h.env)
			if err == nil {
				h.logf(l, "kernel %s ready in %.1fs", k.Release, time.Since(start).Seconds())
			}
			ch <- acquired{l, k, err}
		}()
	}
	kernels := map[string]*Kernel{}
	errs := map[string]error{}
	for range labels {
		a := <-ch
		if a.err != nil {
			errs[a.label] = a.err
			continue
		}
		kernels[a.label] = a.k
	}
	return kernels, errs
}

// launchOrder gives the order to boot the kernels in: the ones allowed the
// longest suites first (the debug kernel's run is the whole run's critical
// path), the label order otherwise. It returns indexes into labels.
func launchOrder(labels []string, kernels map[string]*Kernel) []int {
	limit := func(l string) time.Duration {
		if k := kernels[l]; k != nil {
			return k.SuiteTimeout
		}
		return 0
	}
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return limit(labels[order[a]]) > limit(labels[order[b]])
	})
	return order
}

func (h *harness) logf(label, format string, args ...any) {
	h.out.Printf("[%-*s] "+format, append([]any{h.width, label}, args...)...)
}

func (h *harness) makeRunDir() error {
	var err error
	if h.o.Keep {
		h.runDir = filepath.Join(h.o.Cache, "runs", time.Now().Format("20060102-150405"))
		err = os.MkdirAll(h.runDir, 0o755)
	} else {
		h.runDir, err = os.MkdirTemp("", "ks-vmtest-")
	}
	if err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	return nil
}

func (h *harness) cleanup() {
	if !h.o.Keep {
		os.RemoveAll(h.runDir)
	}
}

// buildGuest builds what every initramfs for arch holds.
func (h *harness) buildGuest(ctx context.Context, arch Arch, suites []suite) (*guestFiles, error) {
	start := time.Now()
	if err := checkStatic(arch.Busybox, "install busybox-static"); err != nil {
		return nil, err
	}
	list, err := listBusybox(ctx, arch)
	if err != nil {
		return nil, err
	}
	g := &guestFiles{
		busybox:  arch.Busybox,
		applets:  busyboxApplets(list),
		binaries: map[string]string{},
		suites:   map[string]string{},
	}

	bins := []goBinary{{Pkg: "./cmd/ks-vminit", Dest: "init"}}
	for _, b := range []goBinary{
		{Pkg: "./cmd/killswitch", Dest: "usr/bin/killswitch"},
		{Pkg: "./cmd/ks-bpf-load", Dest: "usr/sbin/ks-bpf-load"},
		{Pkg: "./cmd/ks-demo", Dest: "usr/bin/ks-demo"},
		{Pkg: "./cmd/killswitchd", Dest: "usr/sbin/killswitchd"},
	} {
		if gofiles, _ := filepath.Glob(filepath.Join(h.o.Repo, b.Pkg, "*.go")); len(gofiles) == 0 {
			h.note("%s is not in the tree yet: the VMs have no /%s", strings.TrimPrefix(b.Pkg, "./"), b.Dest)
			continue
		}
		bins = append(bins, b)
	}
	for _, s := range suites {
		switch {
		case s.GoPkg != "":
			bins = append(bins, goBinary{Pkg: s.GoPkg, Dest: "ks/suites/" + s.Name})
		case s.Script != "":
			g.suites[s.Name] = s.Script
		case s.Selftest:
			g.runSelftest = true
		}
	}
	// Every shell suite sources /ks/selftests/lib.sh and uses ksw, so the
	// selftests go into the image even when 10-selftest itself is not run.
	switch dir, err := buildSelftests(ctx, h.env, h.o.Repo, arch); {
	case errors.Is(err, errNotYet):
	case err != nil:
		return nil, err
	default:
		g.selftestDir = dir
	}
	// BPF programs for the suites that need an override (engagebpf,
	// ks-bpf-load): arch-neutral objects at /ks/bpf.
	switch dir, err := buildBPF(ctx, h.env, h.o.Repo); {
	case errors.Is(err, errNotYet):
	case err != nil:
		return nil, err
	default:
		g.bpfDir = dir
	}
	if !suitesInclude(suites, selftestSuite) && h.o.Suites == "" {
		h.note("selftests/%s is not in the tree yet: no %s suite", selftestScript, selftestSuite)
	}
	built, err := buildGo(ctx, h.env, h.o.Go, h.o.Repo, filepath.Join(h.runDir, "bin-"+arch.Name), arch, bins)
	if err != nil {
		return nil, err
	}
	for _, b := range bins {
		switch {
		case b.Dest == "init":
			g.init = built[b.Pkg]
		case strings.HasPrefix(b.Dest, "ks/suites/"):
			g.suites[strings.TrimPrefix(b.Dest, "ks/suites/")] = built[b.Pkg]
		default:
			g.binaries[b.Dest] = built[b.Pkg]
		}
	}
	if lib := filepath.Join(h.o.Repo, suiteLibDir); exists(lib) {
		g.libDir = lib
	}
	names := make([]string, 0, len(suites))
	for _, s := range suites {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	h.env.Logf("%s guest built in %.1fs; suites: %s", arch.Name, time.Since(start).Seconds(), strings.Join(names, " "))
	return g, nil
}

func suitesInclude(suites []suite, name string) bool {
	for _, s := range suites {
		if s.Name == name {
			return true
		}
	}
	return false
}

func (h *harness) note(format string, args ...any) {
	h.out.Printf("[vmtest] note: "+format, args...)
}

// runKernel builds our modules for k, assembles its initramfs, boots it and
// fills r.
func (h *harness) runKernel(ctx context.Context, k *Kernel, g *guestFiles, r *kernelReport) {
	dir := filepath.Join(h.runDir, k.Label)
	initrd, err := h.prepareInitrd(ctx, k, g, dir)
	if err != nil {
		r.problem(err.Error())
		r.report()
		return
	}
	consolePath := filepath.Join(dir, "console.log")
	consoleFile, err := os.Create(consolePath)
	if err != nil {
		r.problem(fmt.Sprintf("creating console log: %v", err))
		r.report()
		return
	}
	var console io.Writer = consoleFile
	if h.o.Verbose {
		console = io.MultiWriter(consoleFile, &prefixWriter{p: h.out, prefix: r.prefix + "console: "})
	}
	resultsFile, err := os.Create(filepath.Join(dir, "results.log"))
	if err != nil {
		consoleFile.Close()
		r.problem(fmt.Sprintf("creating results log: %v", err))
		r.report()
		return
	}
	defer resultsFile.Close()

	env := mergeEnv(k.Env, h.o.Env)
	if err := checkEnv(env); err != nil {
		r.problem(fmt.Sprintf("kernel %s: %v", k.Label, err))
		r.report()
		return
	}
	suiteTimeout := max(h.o.SuiteTimeout, k.SuiteTimeout)
	cfg := vmConfig{
		Kernel: k, Initrd: initrd, MemoryMB: h.o.MemoryMB, CPUs: h.o.CPUs,
		SuiteTimeout: suiteTimeout, Env: env,
		// A stuck suite is reported by the guest within its timeout; give
		// the boot and the report a margin on top.
		Silence: suiteTimeout + 2*time.Minute,
	}
	h.logf(k.Label, "booting %s", k.Release)
	boot := time.Now()
	outcome := runVM(ctx, cfg, console, func(line string) {
		fmt.Fprintln(resultsFile, line)
		r.handle(line)
	})
	consoleFile.Close()
	consoleLines := readLines(consolePath)
	r.finish(outcome, cfg.Silence, boot, consoleLines)
	if r.summary == nil || outcome.TimedOut || outcome.Silent {
		h.out.Printf("%slast console lines (%s):", r.prefix, consolePath)
		for _, l := range lastN(consoleLines, 40) {
			h.out.Println(r.prefix + "  " + l)
		}
	}
}

// prepareInitrd builds our modules for k and writes its initramfs.
func (h *harness) prepareInitrd(ctx context.Context, k *Kernel, g *guestFiles, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	start := time.Now()
	kos, err := buildModules(ctx, h.env, h.o.Repo, k)
	switch {
	case errors.Is(err, errNotYet):
		h.note("%v: the VMs get no killswitch modules", err)
	case err != nil:
		return "", err
	}
	var prebuilt []string
	if h.o.PrebuiltModules != "" {
		if kos, prebuilt, err = usePrebuilt(kos, h.o.PrebuiltModules, k); err != nil {
			return "", err
		}
	}
	var refused map[string][]byte
	if k.SigningKey != "" && len(kos) > 0 {
		if kos, refused, err = signModules(ctx, h.env, h.o.Repo, k, kos, filepath.Join(dir, "signed")); err != nil {
			return "", err
		}
	}
	stock := h.o.StockModules
	if k.StockModules != nil {
		stock = k.StockModules
	}
	mods, err := NewModuleSet(k, stock, kos)
	if err != nil {
		return "", err
	}
	img, err := g.initramfs(mods, k.runsSuite)
	if err != nil {
		return "", fmt.Errorf("assembling initramfs: %w", err)
	}
	for p, data := range refused {
		if err := img.AddData(p, 0o644, data); err != nil {
			return "", fmt.Errorf("adding %s: %w", p, err)
		}
	}
	if k.Config != "" && exists(k.Config) {
		if err := img.AddFile("boot/config-"+k.Release, k.Config, 0o644); err != nil {
			return "", fmt.Errorf("adding the kernel config: %w", err)
		}
	}
	path := filepath.Join(dir, "initramfs.cpio.gz")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("creating initramfs: %w", err)
	}
	n, err := img.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing initramfs: %w", err)
	}
	ours := "none"
	if len(kos) > 0 {
		names := make([]string, len(kos))
		for i, ko := range kos {
			names[i] = filepath.Base(ko)
			if slices.Contains(prebuilt, ko) {
				names[i] = ko + " (prebuilt)"
			}
		}
		ours = strings.Join(names, " ")
	}
	if refused != nil {
		ours += ", signed with " + filepath.Base(k.SigningCert)
	}
	h.logf(k.Label, "initramfs %.1f MB, %d modules (ours: %s), built in %.1fs",
		float64(n)/(1<<20), len(mods.Names()), ours, time.Since(start).Seconds())
	return path, nil
}

// usePrebuilt replaces built modules by the prebuilt ones of the same name
// in the directory template dir expands to for k. It returns the modules
// to use and which of them are prebuilt.
func usePrebuilt(built []string, dir string, k *Kernel) (all, prebuilt []string, err error) {
	dir = strings.NewReplacer("{release}", k.Release, "{arch}", k.Arch.Name).Replace(dir)
	prebuilt, _ = filepath.Glob(filepath.Join(dir, "*.ko*"))
	if len(prebuilt) == 0 {
		return nil, nil, fmt.Errorf("-prebuilt-modules: no modules in %s for %s", dir, k.Label)
	}
	all = slices.Clone(prebuilt)
	for _, ko := range built {
		if !slices.ContainsFunc(prebuilt, func(p string) bool { return ModuleName(p) == ModuleName(ko) }) {
			all = append(all, ko)
		}
	}
	return all, prebuilt, nil
}

func readLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	return lines
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}
