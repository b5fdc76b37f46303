// Command 85-bench measures killswitch on one boot of the project's test
// kernel (make bench, kernel label ks-6.1-bench) side by side with the
// kernel's own overriding mechanisms, fail_function and a BPF kprobe
// program calling bpf_override_return, and with a bare kprobe.
//
// It prints the results as "# bench: " lines holding a Markdown document
// body (scripts/bench turns them into docs/benchmarks.md), and "ok"/"not ok"
// lines for the checks that make the figures trustworthy: each mechanism
// really overrode (or really let through) every timed call, the counters
// agree, everything was removed again. A missed performance target is a
// figure in the table, not a failure.
//
// Kernel-context figures come from test_killswitch's bench loop
// (kernel/test_killswitch_bench.c): ks_test_bench() called in a tight loop,
// rounds timed with interrupts off, every case once per pass; the fastest
// round gives the ratios (load on the shared host only adds time), the
// quartile, median and slowest show the spread.
// User-space figures time getpriority(2) (RawSyscall, one locked thread).
// Control writes go through internal/ksfs on a file system that hides
// /dev/kmsg, so a write costs what the module costs, not ksfs's log scan.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/ksfs"

	"github.com/killswitch/killswitch/internal/vmtest/tap"
)

const (
	dbgDir    = "/sys/kernel/debug/test_killswitch"
	benchFile = dbgDir + "/bench"
	bareFile  = dbgDir + "/bench_kprobe"
	target    = "ks_test_bench"
	benchArg  = 7
	ffDir     = "/sys/kernel/debug/fail_function"
	loader    = "/usr/sbin/ks-bpf-load"
	bpfDir    = "/ks/bpf"
	pinDir    = "/sys/fs/bpf/killswitch"
	cli       = "/usr/bin/killswitch"
	syscallFn = "__x64_sys_getpriority"
	// Per-call figures: every case runs once per pass, passes times, so
	// that bursts of load on the shared host spread over all cases; each
	// pass times rounds short rounds (a few ms, less than a host time
	// slice). Load on the host only ever adds time, so the fastest round
	// is the figure the ratios use; the quartile and median show the
	// spread.
	passes  = 12
	kCalls  = 20000
	kRounds = 3
	uCalls  = 5000
	uRounds = 3
	// Mass entries for teardown, listing and memory.
	massN  = 1000
	smallN = 300
	// Engage latency samples, tryengage runs.
	latN   = 100
	tryN   = 5
	trySec = 1
	// The catalog entry mitigate runs end to end (engage, no probe window).
	mitigateCVE = "CVE-2026-31431"
)

// The result lines (test/vm/README.md).
var (
	suite         = tap.New("85-bench", "bench")
	ok, nok, note = suite.Ok, suite.Nok, suite.Note
)

// out collects the document; printed as "# bench: " lines at the end so
// the table is one block even when notes interleave.
var out []string

func doc(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

// must stops the suite: what follows depends on it.
func must(what string, err error) {
	if err != nil {
		nok(what, "%v", err)
		cleanup()
		fmt.Printf("# bench: aborted at %s: %v\n", what, err)
		os.Exit(1)
	}
}

// noKmsg is the root file system without /dev/kmsg: ksfs reads the whole
// kernel log before each write to explain a failure, which would dominate
// the timing of a control write. A failure still returns its errno.
type noKmsg struct{ hostfs.Dir }

func (n noKmsg) ReadFile(name string) ([]byte, error) {
	if name == ksfs.KernelLogFile {
		return nil, fs.ErrPermission
	}
	return n.Dir.ReadFile(name)
}

var (
	root   = hostfs.Dir("/")
	client = ksfs.New(noKmsg{root})
)

func writeFile(name, data string) error { return root.WriteFile(name, []byte(data)) }

func readFile(name string) (string, error) {
	b, err := root.ReadFile(name)
	return strings.TrimSpace(string(b)), err
}

// ---- kernel-context loop ---------------------------------------------------

type loopResult struct {
	medianPS, minPS, maxPS   uint64
	body, overridden, rounds uint64
	ret                      int64
}

func kernelLoop() (loopResult, error) {
	if err := writeFile(benchFile, fmt.Sprintf("%d %d %d", kCalls, kRounds, benchArg)); err != nil {
		return loopResult{}, fmt.Errorf("run the loop: %w", err)
	}
	s, err := readFile(benchFile)
	if err != nil {
		return loopResult{}, err
	}
	var r loopResult
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return r, fmt.Errorf("bench result %q: %w", s, err)
		}
		switch k {
		case "median_ps":
			r.medianPS = uint64(n)
		case "min_ps":
			r.minPS = uint64(n)
		case "max_ps":
			r.maxPS = uint64(n)
		case "body":
			r.body = uint64(n)
		case "overridden":
			r.overridden = uint64(n)
		case "rounds":
			r.rounds = uint64(n)
		case "ret":
			r.ret = n
		}
	}
	return r, nil
}

// kcase is one row of the kernel table.
type kcase struct {
	name     string
	setup    func() error
	teardown func() error
	// override: every call overridden (and returns ret); else every body ran.
	override bool
	ret      int64
	// hits, when set, must equal the calls the loop made.
	hits    func() (uint64, uint64, error)
	samples []float64 // ns per call, one per round
	failed  bool
}

func (c *kcase) ran() bool { return !c.failed && len(c.samples) > 0 }

// spread summarises round figures: the fastest, the lower quartile, the
// median and the slowest.
type spread struct{ min, p25, med, max float64 }

func stats(samples []float64) spread {
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	return spread{s[0], s[len(s)/4], s[len(s)/2], s[len(s)-1]}
}

func killswitchHits() (uint64, uint64, error) {
	e, err := client.Engagement(target)
	return e.Hits, e.Passed, err
}

func engage(args ...ksfs.Filter) func() error {
	return func() error { return client.Engage(target, -1, args...) }
}

func disengage(sym string) func() error {
	return func() error { return client.Do(ksfs.Disengage(sym)) }
}

func failFunction(sym string, retval, probability int) func() error {
	return func() error {
		for _, w := range [][2]string{
			{ffDir + "/inject", sym},
			// A debugfs u64 attribute: kstrtoull, so the two's complement.
			{ffDir + "/" + sym + "/retval", fmt.Sprintf("%#x", uint64(int64(retval)))},
			{ffDir + "/probability", strconv.Itoa(probability)},
			{ffDir + "/interval", "1"},
			{ffDir + "/times", "-1"},
			{ffDir + "/space", "0"},
			// verbose=0: the default (2) logs a stack trace per failure.
			{ffDir + "/verbose", "0"},
		} {
			if err := writeFile(w[0], w[1]); err != nil {
				return fmt.Errorf("fail_function: write %s to %s: %w", w[1], w[0], err)
			}
		}
		return nil
	}
}

func failFunctionOff() error {
	// An empty write to inject (a bare "!" in older docs) clears the list.
	return writeFile(ffDir+"/inject", "\n")
}

func bpfAttach(obj, sym string) func() error {
	return func() error {
		b, err := exec.Command(loader, bpfDir+"/"+obj, sym).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s %s: %v: %s", loader, obj, sym, err, strings.TrimSpace(string(b)))
		}
		return nil
	}
}

func bpfDetach(sym string) func() error {
	return func() error { return os.Remove(pinDir + "/" + sym) }
}

// kernelPass runs one pass of a case: set up, time kRounds rounds, check
// that every call was overridden (or ran) and counted, tear down.
func kernelPass(c *kcase) {
	fail := func(format string, args ...any) {
		nok(c.name, format, args...)
		c.failed = true
	}
	if c.setup != nil {
		if err := c.setup(); err != nil {
			fail("set-up: %v", err)
			return
		}
	}
	r, err := kernelLoop()
	total := uint64(kCalls) * kRounds
	if err == nil && c.hits != nil {
		hits, passed, herr := c.hits()
		switch {
		case herr != nil:
			err = herr
		case hits != total || passed != 0:
			err = fmt.Errorf("counters: hits=%d passed=%d, want hits=%d passed=0", hits, passed, total)
		}
	}
	if c.teardown != nil {
		if terr := c.teardown(); terr != nil {
			fail("tear-down: %v", terr)
		}
	}
	switch {
	case err != nil:
		fail("%v", err)
	case r.rounds != kRounds:
		fail("ran %d rounds, want %d", r.rounds, kRounds)
	case c.override && (r.overridden != total || r.body != 0 || r.ret != c.ret):
		fail("want all %d calls overridden to %d, body never run; got overridden=%d body=%d ret=%d", total, c.ret, r.overridden, r.body, r.ret)
	case !c.override && (r.body != total || r.overridden != 0):
		fail("want all %d bodies run, none overridden; got body=%d overridden=%d", total, r.body, r.overridden)
	default:
		// Three rounds: min, median and max are the three figures.
		c.samples = append(c.samples, float64(r.minPS)/1000, float64(r.medianPS)/1000, float64(r.maxPS)/1000)
	}
}

// ---- user-space loop -------------------------------------------------------

type userResult struct {
	per []float64 // ns per call, one per round
	ret int64
}

func userLoop() userResult {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	per := make([]float64, uRounds)
	var r1 uintptr
	for i := range per {
		t0 := time.Now()
		for j := 0; j < uCalls; j++ {
			r1, _, _ = syscall.RawSyscall(syscall.SYS_GETPRIORITY, 0 /* PRIO_PROCESS */, 0, 0)
		}
		per[i] = float64(time.Since(t0).Nanoseconds()) / uCalls
	}
	return userResult{per: per, ret: int64(r1)}
}

type ucase struct {
	name            string
	setup, teardown func() error
	want            int64
	samples         []float64
	failed          bool
}

func (c *ucase) ran() bool { return !c.failed && len(c.samples) > 0 }

func userPass(c *ucase) {
	if c.setup != nil {
		if err := c.setup(); err != nil {
			nok(c.name, "set-up: %v", err)
			c.failed = true
			return
		}
	}
	r := userLoop()
	if c.teardown != nil {
		if err := c.teardown(); err != nil {
			nok(c.name, "tear-down: %v", err)
			c.failed = true
		}
	}
	if r.ret != c.want {
		nok(c.name, "getpriority returned %d, want %d", r.ret, c.want)
		c.failed = true
		return
	}
	c.samples = append(c.samples, r.per...)
}

// ---- statistics --------------------------------------------------------------

func quantile(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func verdict(good bool) string {
	if good {
		return "met"
	}
	return "**missed**"
}

// ---- kernel log timestamps ---------------------------------------------------

// kmsgTimes returns the time (µs since boot) of each kernel log record
// containing any of the needles, in order, after seq.
func kmsgAfter(seq uint64) (recs []kmsgRec, last uint64) {
	b, _ := root.ReadFile(ksfs.KernelLogFile)
	last = seq
	for _, line := range strings.Split(string(b), "\n") {
		prefix, msg, found := strings.Cut(line, ";")
		if !found || strings.HasPrefix(line, " ") {
			continue
		}
		f := strings.Split(prefix, ",")
		if len(f) < 3 {
			continue
		}
		s, err1 := strconv.ParseUint(f[1], 10, 64)
		us, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if s > last {
			last = s
		}
		if s > seq {
			recs = append(recs, kmsgRec{s, us, msg})
		}
	}
	return recs, last
}

// hz is the test kernel's CONFIG_HZ.
const hz = 250

// localTicks sums the local timer interrupts (LOC in /proc/interrupts)
// over the CPUs.
func localTicks() int64 {
	b, _ := root.ReadFile("/proc/interrupts")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "LOC:" {
			var n int64
			for _, x := range f[1:] {
				v, err := strconv.ParseInt(x, 10, 64)
				if err != nil {
					break
				}
				n += v
			}
			return n
		}
	}
	return 0
}

type kmsgRec struct {
	seq, us uint64
	msg     string
}

// ---- mass entries --------------------------------------------------------------

// coldPrefixes are subsystems an idle test VM does not call once booted:
// the ACPI interpreter, IPsec, IPv6, 9p, PCI set-up. Observing never
// overrides, so a wrong guess costs time, not correctness; the figures
// report how many calls the observed functions saw.
var coldPrefixes = []string{
	"acpi_ut_", "acpi_ns_", "acpi_ds_", "acpi_ps_", "acpi_ex_", "acpi_tb_", "acpi_rs_",
	"acpi_db_", "acpi_hw_", "acpi_ev_", "xfrm", "ip6", "ipv6", "v9fs", "p9_", "pci_",
}

var hotWords = []string{
	"sched", "rcu", "lock", "irq", "timer", "tick", "alloc", "free", "idle", "clock",
	"time", "softirq", "trace", "kprobe", "bpf", "perf", "nmi", "apic", "entry",
	"fault", "copy", "mem", "read", "write", "wake", "cpu", "work", "poll", "event",
}

// massTargets picks n functions that killswitch can observe: unique in
// kallsyms, in vmlinux, traceable (available_filter_functions), not on
// the kprobe blacklist, a valid control symbol, from a cold subsystem.
func massTargets(n int) ([]string, error) {
	ks, err := root.ReadFile("/proc/kallsyms")
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	text := map[string]bool{}
	for _, l := range strings.Split(string(ks), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		count[f[2]]++
		if len(f) == 3 && (f[1] == "t" || f[1] == "T") {
			text[f[2]] = true
		}
	}
	ff, err := root.ReadFile("/sys/kernel/tracing/available_filter_functions")
	if err != nil {
		return nil, err
	}
	bl, err := root.ReadFile("/sys/kernel/debug/kprobes/blacklist")
	if err != nil {
		return nil, err
	}
	black := map[string]bool{}
	for _, l := range strings.Split(string(bl), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			black[f[1]] = true
		}
	}
	var picked []string
	seen := map[string]bool{}
	for _, p := range coldPrefixes {
	next:
		for _, l := range strings.Split(string(ff), "\n") {
			f := strings.Fields(l)
			if len(f) != 1 || !strings.HasPrefix(f[0], p) {
				continue
			}
			name := f[0]
			if seen[name] || !text[name] || count[name] != 1 || black[name] || ksfs.ValidateSymbol(name) != nil || strings.Contains(name, ".") {
				continue
			}
			for _, w := range hotWords {
				if strings.Contains(name, w) {
					continue next
				}
			}
			seen[name] = true
			picked = append(picked, name)
			if len(picked) == n {
				return picked, nil
			}
		}
	}
	return nil, fmt.Errorf("found only %d cold traceable functions, need %d", len(picked), n)
}

type meminfo map[string]int64 // kB

func readMeminfo() meminfo {
	m := meminfo{}
	b, _ := root.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			m[strings.TrimSuffix(f[0], ":")] = v
		}
	}
	return m
}

func observeAll(syms []string) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, len(syms))
	for _, s := range syms {
		t0 := time.Now()
		if err := client.Observe(s); err != nil {
			return lat, fmt.Errorf("observe %s: %w", s, err)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

func engagedCount() (int, error) {
	e, err := client.Engagements()
	return len(e), err
}

// teardown times n entries removed one by one and n removed with one
// disengage_all, twice, in the order ABBA so that a change in the host's
// load (other VMs share its CPUs) weighs on both alike; totals summed.
func teardown(syms []string) (one, all time.Duration, err error) {
	oneByOne := func() error {
		if _, err := observeAll(syms); err != nil {
			return err
		}
		t0 := time.Now()
		for _, s := range syms {
			if err := client.Do(ksfs.Disengage(s)); err != nil {
				return fmt.Errorf("disengage %s: %w", s, err)
			}
		}
		one += time.Since(t0)
		return nil
	}
	batched := func() error {
		if _, err := observeAll(syms); err != nil {
			return err
		}
		t0 := time.Now()
		if err := client.Do(ksfs.DisengageAll()); err != nil {
			return fmt.Errorf("disengage_all: %w", err)
		}
		all += time.Since(t0)
		return nil
	}
	for _, step := range []func() error{oneByOne, batched, batched, oneByOne} {
		if err = step(); err != nil {
			return
		}
	}
	if n, cerr := engagedCount(); cerr != nil || n != 0 {
		return one, all, fmt.Errorf("after teardown: %d entries left (%v)", n, cerr)
	}
	return one, all, nil
}

// ---- CLI -------------------------------------------------------------------------

func timeCLI(args ...string) (time.Duration, string, error) {
	t0 := time.Now()
	b, err := exec.Command(cli, args...).CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		return d, string(b), fmt.Errorf("killswitch %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return d, string(b), nil
}

// ---- main ----------------------------------------------------------------------

var printkWas string

func cleanup() {
	_ = client.Do(ksfs.DisengageAll())
	_ = failFunctionOff()
	_ = writeFile(bareFile, "0")
	_ = os.Remove(pinDir + "/" + target)
	_ = os.Remove(pinDir + "/" + syscallFn)
	if printkWas != "" {
		_ = writeFile("/proc/sys/kernel/printk", printkWas)
	}
}

// calibrate times a fixed pure-Go workload (sorting 1M pseudo-random
// ints): run in the guest and, by scripts/bench, on the host, the ratio is
// how much slower emulated user-space code runs than native.
func calibrate() time.Duration {
	best := time.Duration(1<<63 - 1)
	for r := 0; r < 3; r++ {
		v := make([]int, 1<<20)
		x := uint64(88172645463325252)
		for i := range v {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			v[i] = int(x >> 1)
		}
		t0 := time.Now()
		sort.Ints(v)
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	return best
}

// userCases is len(uc) in main, for the plan printed before uc exists.
const userCases = 5

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-calibrate" {
		fmt.Printf("%.1f\n", float64(calibrate().Microseconds())/1000)
		return
	}
	if k := os.Getenv("KS_KERNEL"); !strings.HasSuffix(k, "-bench") {
		nok("setup", "85-bench runs only on a bench kernel label (make bench), not %q", k)
		os.Exit(1)
	}
	started := time.Now()
	for _, m := range []string{"killswitch", "test_killswitch"} {
		if b, err := exec.Command("modprobe", m).CombinedOutput(); err != nil {
			must("setup", fmt.Errorf("modprobe %s: %v: %s", m, err, b))
		}
	}
	for _, f := range []string{benchFile, bareFile, ffDir + "/inject", loader, bpfDir + "/override.bpf.o", bpfDir + "/noop.bpf.o", cli} {
		if _, err := os.Stat(f); err != nil {
			must("setup", fmt.Errorf("%s missing: the bench needs the test kernel with fail_function, BPF and the bench module: %w", f, err))
		}
	}
	// Audit lines at KERN_WARNING would go to the serial console (slow
	// under emulation) inside every control write; a server boots quiet.
	printkWas, _ = readFile("/proc/sys/kernel/printk")
	must("setup", writeFile("/proc/sys/kernel/printk", "4"))
	defer cleanup()

	rel, _ := readFile("/proc/sys/kernel/osrelease")
	ver, _ := readFile("/proc/sys/kernel/version")
	ncpu := runtime.NumCPU()
	note("kernel %s %s, %d CPUs", rel, ver, ncpu)

	// 1. Kernel context.
	kc := []*kcase{
		{name: "not probed"},
		{name: "bare kprobe (empty pre-handler)", setup: func() error { return writeFile(bareFile, "1") }, teardown: func() error { return writeFile(bareFile, "0") }},
		{name: "bare kprobe, empty pre- and post-handler", setup: func() error { return writeFile(bareFile, "2") }, teardown: func() error { return writeFile(bareFile, "0") }},
		{name: "BPF kprobe, no-op program", setup: bpfAttach("noop.bpf.o", target), teardown: bpfDetach(target)},
		{name: "killswitch observe", setup: func() error { return client.Observe(target) }, teardown: disengage(target), hits: killswitchHits},
		{name: "killswitch tryengage, probing", setup: func() error { return client.TryEngage(target, -1, time.Hour) }, teardown: disengage(target), hits: killswitchHits},
		{name: "killswitch engaged", setup: engage(), teardown: disengage(target), override: true, ret: -1, hits: killswitchHits},
		{name: "engaged, uid=0 (matches)", setup: engage(ksfs.Filter{Value: 0}), teardown: disengage(target), override: true, ret: -1, hits: killswitchHits},
		{name: "engaged, uid!=0 (does not match)", setup: engage(ksfs.Filter{Negate: true}), teardown: disengage(target)},
		{name: "engaged, arg1=7 (matches)", setup: engage(ksfs.Filter{Arg: 1, Value: benchArg}), teardown: disengage(target), override: true, ret: -1, hits: killswitchHits},
		{name: "engaged, arg1!=7 (does not match)", setup: engage(ksfs.Filter{Arg: 1, Negate: true, Value: benchArg}), teardown: disengage(target)},
		{name: "fail_function", setup: failFunction(target, -12, 100), teardown: failFunctionOff, override: true, ret: -12},
		{name: "fail_function, probability=0 (armed, never fails)", setup: failFunction(target, -12, 0), teardown: failFunctionOff},
		{name: "BPF kprobe, bpf_override_return", setup: bpfAttach("override.bpf.o", target), teardown: bpfDetach(target), override: true, ret: 40},
	}
	// The plan: one result per kernel case, per user case (userCases,
	// below), and the seven measurements after them.
	suite.Plan(len(kc) + userCases + 7)
	for p := 0; p < passes; p++ {
		for _, c := range kc {
			if !c.failed {
				kernelPass(c)
			}
		}
	}
	for _, c := range kc {
		if c.ran() {
			st := stats(c.samples)
			ok("%s: %.1f ns/call (fastest of %d rounds of %d calls; median %.1f, max %.1f); every call %s", c.name, st.min, len(c.samples), kCalls, st.med, st.max,
				map[bool]string{true: "overridden", false: "ran the body"}[c.override])
		}
	}
	byName := map[string]*kcase{}
	for _, c := range kc {
		byName[c.name] = c
	}
	base := byName["not probed"]

	// 2. User space, getpriority(2): 20 - nice = 20 raw; overrides return 40.
	uc := []*ucase{
		{name: "getpriority, plain", want: 20},
		{name: "getpriority, killswitch engaged", setup: func() error { return client.Engage(syscallFn, 40) }, teardown: disengage(syscallFn), want: 40},
		// fail_function clamps an errno-type function's value to an errno.
		{name: "getpriority, fail_function", setup: failFunction(syscallFn, -1, 100), teardown: failFunctionOff, want: -1},
		{name: "getpriority, BPF bpf_override_return", setup: bpfAttach("override.bpf.o", syscallFn), teardown: bpfDetach(syscallFn), want: 40},
	}
	if len(uc) != userCases {
		nok("setup", "%d user cases, the plan counts %d: update userCases", len(uc), userCases)
	}
	for p := 0; p < passes; p++ {
		for _, c := range uc {
			if !c.failed {
				userPass(c)
			}
		}
	}
	for _, c := range uc {
		if c.ran() {
			st := stats(c.samples)
			ok("%s: %.0f ns/call (fastest of %d rounds of %d calls; median %.0f), returns %d", c.name, st.min, len(c.samples), uCalls, st.med, c.want)
		}
	}

	// 3a. Engage and disengage latency.
	var engLat, disLat []time.Duration
	for i := 0; i < latN; i++ {
		t0 := time.Now()
		if err := client.Engage(target, -1); err != nil {
			nok("engage latency", "engage %d: %v", i, err)
			break
		}
		t1 := time.Now()
		if err := client.Do(ksfs.Disengage(target)); err != nil {
			nok("engage latency", "disengage %d: %v", i, err)
			break
		}
		engLat = append(engLat, t1.Sub(t0))
		disLat = append(disLat, time.Since(t1))
	}
	if len(engLat) == latN {
		ok("engage/disengage %d times", latN)
	}

	// 3b. tryengage commit timing: kernel log timestamps of the probing
	// and committed lines, against T.
	var tryErr []time.Duration
	ticks0, tickT0 := localTicks(), time.Now()
	for i := 0; i < tryN; i++ {
		_, seq := kmsgAfter(0)
		if err := client.TryEngage(target, -1, trySec*time.Second); err != nil {
			nok("tryengage timing", "tryengage: %v", err)
			break
		}
		deadline := time.Now().Add(trySec*time.Second + 10*time.Second)
		var start, commit uint64
		for time.Now().Before(deadline) && commit == 0 {
			time.Sleep(20 * time.Millisecond)
			recs, _ := kmsgAfter(seq)
			for _, r := range recs {
				switch {
				case strings.Contains(r.msg, "tryengage "+target+" probing"):
					start = r.us
				case strings.Contains(r.msg, "tryengage "+target+" committed"):
					commit = r.us
				}
			}
		}
		_ = client.Do(ksfs.Disengage(target))
		if start == 0 || commit == 0 {
			nok("tryengage timing", "no probing/committed log lines for run %d", i)
			break
		}
		tryErr = append(tryErr, time.Duration(commit-start)*time.Microsecond-trySec*time.Second)
	}
	if len(tryErr) == tryN {
		ok("tryengage committed %d times", tryN)
	}
	// The test kernel ticks periodically (HZ_PERIODIC): a vCPU the host
	// does not run loses ticks, and jiffies, which time the window, fall
	// behind the clock the log uses. Say how many arrived.
	tickShare := float64(localTicks()-ticks0) / (time.Since(tickT0).Seconds() * hz * float64(runtime.NumCPU()))

	// 3c. Mass entries: memory, listing, status, teardown.
	syms, err := massTargets(massN)
	must("pick mass targets", err)
	note("mass targets: %s ... %s", strings.Join(syms[:5], " "), strings.Join(syms[len(syms)-3:], " "))
	_ = writeFile("/proc/sys/vm/drop_caches", "3")
	m0 := readMeminfo()
	obsLat, err := observeAll(syms)
	must("observe 1000", err)
	m1 := readMeminfo()
	t0 := time.Now()
	short, err := client.EngagedList()
	readEngaged := time.Since(t0)
	must("read engaged", err)
	if len(short) != massN {
		nok("read engaged", "%d entries, want %d", len(short), massN)
	} else {
		ok("engaged lists all %d entries", len(short))
	}
	t0 = time.Now()
	n, err := engagedCount()
	readFull := time.Since(t0)
	must("read engagements", err)
	if n != massN {
		nok("read engagements", "%d entries, want %d", n, massN)
	}
	statusT, statusOut, err := timeCLI("status")
	if err != nil {
		nok("killswitch status at 1000", "%v", err)
	} else if c := strings.Count(statusOut, "observing"); c < massN {
		nok("killswitch status at 1000", "shows %d observing entries, want %d", c, massN)
	} else {
		ok("killswitch status lists %d entries", massN)
	}
	var massHits uint64
	if es, err := client.Engagements(); err == nil {
		for _, e := range es {
			massHits += e.Hits
		}
	}
	must("clear", client.Do(ksfs.DisengageAll()))
	perEntry := func(k string) float64 { return float64(m1[k]-m0[k]) * 1024 / massN }

	one1000, all1000, err := teardown(syms)
	must("teardown 1000", err)
	one300, all300, err := teardown(syms[:smallN])
	must("teardown 300", err)
	ok("teardown of %d and %d entries, one by one and batched", massN, smallN)

	// 4. CLI.
	var checkT []time.Duration
	for i := 0; i < 3; i++ {
		d, _, err := timeCLI("check", syscallFn, "-1")
		if err != nil {
			nok("killswitch check", "%v", err)
			break
		}
		checkT = append(checkT, d)
	}
	if len(checkT) == 3 {
		ok("killswitch check %s -1, 3 runs", syscallFn)
	}
	var mitT []time.Duration
	for i := 0; i < 3; i++ {
		for _, m := range []string{"algif_aead", "algif_skcipher", "algif_hash", "af_alg"} {
			_ = exec.Command("rmmod", m).Run()
		}
		d, o, err := timeCLI("mitigate", mitigateCVE, "--load", "--any-version")
		if err == nil && !strings.Contains(o, "mitigated") {
			err = fmt.Errorf("no 'mitigated' line: %s", o)
		}
		if err != nil {
			nok("killswitch mitigate", "%v", err)
			break
		}
		mitT = append(mitT, d)
		if err := client.Do(ksfs.DisengageAll()); err != nil {
			nok("killswitch mitigate", "disengage_all: %v", err)
			break
		}
	}
	if len(mitT) == 3 {
		ok("killswitch mitigate %s --load, 3 runs", mitigateCVE)
	}

	// ---- the document ----------------------------------------------------------
	cal := calibrate()
	doc("Guest: `%s`, %d vCPUs, `%s`; suite ran %s.", rel, ncpu, ver, time.Since(started).Round(time.Second))
	crng := "yes"
	if _, err := unix.Getrandom(make([]byte, 1), unix.GRND_NONBLOCK); errors.Is(err, unix.EAGAIN) {
		crng = "no (every get_random_u32() takes the slow path, which fail_function's probability check calls)"
	}
	doc("Kernel random number generator initialised: %s.", crng)
	doc("Go calibration workload (sort 1M ints, best of 3) in the guest: %.1f ms.", float64(cal.Microseconds())/1000)
	fmt.Printf("# bench-calibrate-ms: %.1f\n", float64(cal.Microseconds())/1000)
	doc("")
	doc("### Per call, kernel context (`ks_test_bench()`: %d passes x %d rounds of %d calls; ns per call)", passes, kRounds, kCalls)
	doc("")
	doc("| case | fastest round | lower quartile | median | slowest | fastest vs not probed | overhead ns (fastest) |")
	doc("|---|---:|---:|---:|---:|---:|---:|")
	for _, c := range kc {
		if !c.ran() {
			doc("| %s | failed | | | | | |", c.name)
			continue
		}
		st := stats(c.samples)
		ratio, over := "", ""
		if base.ran() {
			b := stats(base.samples).min
			ratio = fmt.Sprintf("%.1fx", st.min/b)
			over = fmt.Sprintf("%.1f", st.min-b)
		}
		doc("| %s | %.1f | %.1f | %.1f | %.1f | %s | %s |", c.name, st.min, st.p25, st.med, st.max, ratio, over)
	}
	doc("")
	doc("### Per call, user space (`getpriority(2)`: %d passes x %d rounds of %d calls; ns per call)", passes, uRounds, uCalls)
	doc("")
	doc("| case | fastest round | lower quartile | median | slowest | fastest vs plain |")
	doc("|---|---:|---:|---:|---:|---:|")
	for _, c := range uc {
		if !c.ran() || !uc[0].ran() {
			doc("| %s | failed | | | | |", c.name)
			continue
		}
		st := stats(c.samples)
		doc("| %s | %.0f | %.0f | %.0f | %.0f | %.2fx |", c.name, st.min, st.p25, st.med, st.max, st.min/stats(uc[0].samples).min)
	}
	doc("")
	doc("### Control operations")
	doc("")
	doc("| measurement | figure |")
	doc("|---|---|")
	if len(engLat) > 0 {
		doc("| engage, %d runs | median %s, p99 %s |", len(engLat), ms(quantile(engLat, .5)), ms(quantile(engLat, .99)))
		doc("| disengage (one entry), %d runs | median %s, p99 %s |", len(disLat), ms(quantile(disLat, .5)), ms(quantile(disLat, .99)))
	}
	if len(tryErr) > 0 {
		doc("| tryengage T=%ds: committed after T + (kernel log times), %d runs | median %s, max %s (timer ticks delivered meanwhile: %.0f%% of %d Hz per CPU) |", trySec, len(tryErr), ms(quantile(tryErr, .5)), ms(quantile(tryErr, 1)), tickShare*100, hz)
	}
	doc("| observe at scale (%d entries, one write each) | median %s, p99 %s, total %s |", massN, ms(quantile(obsLat, .5)), ms(quantile(obsLat, .99)), ms(sumDur(obsLat)))
	doc("| read and parse `engaged` at %d entries (one read) | %s |", massN, ms(readEngaged))
	doc("| the same with every `fn/<sym>/` file (ksfs Engagements, what status reads) | %s |", ms(readFull))
	doc("| calls seen by the %d observed functions | %d |", massN, massHits)
	doc("| teardown %d, one by one (2 runs) | %s per run, %s per entry |", smallN, ms(one300/2), ms(one300/2/smallN))
	doc("| teardown %d, disengage_all (2 runs) | %s per run, %s per entry |", smallN, ms(all300/2), ms(all300/2/smallN))
	doc("| teardown %d, one by one (2 runs) | %s per run, %s per entry |", massN, ms(one1000/2), ms(one1000/2/massN))
	doc("| teardown %d, disengage_all (2 runs) | %s per run, %s per entry |", massN, ms(all1000/2), ms(all1000/2/massN))
	if b, err := root.ReadFile("/sys/kernel/tracing/available_filter_functions"); err == nil {
		doc("| traceable functions (ftrace records; each arm or disarm of a probe walks them) | %d |", strings.Count(string(b), "\n"))
	}
	doc("| kernel memory per engagement (%d observed) | Slab %.0f B (unreclaimable %.0f B), Percpu %.0f B, MemFree %.0f B |", massN, perEntry("Slab"), perEntry("SUnreclaim"), perEntry("Percpu"), -perEntry("MemFree"))
	doc("")
	doc("### Command line (`/usr/bin/killswitch`, wall time of the process)")
	doc("")
	doc("| command | fastest | median | runs |")
	doc("|---|---:|---:|---:|")
	if len(checkT) > 0 {
		var btf int64
		if fi, err := os.Stat("/sys/kernel/btf/vmlinux"); err == nil {
			btf = fi.Size()
		}
		doc("| `killswitch check %s -1` (BTF parse included; guest BTF %d KiB) | %s | %s | %d |", syscallFn, btf/1024, ms(quantile(checkT, 0)), ms(quantile(checkT, .5)), len(checkT))
	}
	doc("| `killswitch status` at %d entries | %s | | 1 |", massN, ms(statusT))
	if len(mitT) > 0 {
		doc("| `killswitch mitigate %s --load --any-version` (modules unloaded first; no probe window) | %s | %s | %d |", mitigateCVE, ms(quantile(mitT, 0)), ms(quantile(mitT, .5)), len(mitT))
	}
	doc("")
	doc("### Targets")
	doc("")
	doc("Per-call ratios use the fastest rounds; the ratio of the medians is in brackets.")
	doc("")
	doc("| target | measured | verdict |")
	doc("|---|---|---|")
	get := func(n string) (float64, bool) {
		c := byName[n]
		if !c.ran() {
			return 0, false
		}
		return stats(c.samples).min, true
	}
	med := func(n string) float64 { return stats(byName[n].samples).med }
	if e, ok1 := get("killswitch engaged"); ok1 {
		if b, ok2 := get("BPF kprobe, bpf_override_return"); ok2 {
			doc("| engaged call <= BPF override | %.1f / %.1f ns = %.2fx (%.2fx) | %s |", e, b, e/b, med("killswitch engaged")/med("BPF kprobe, bpf_override_return"), verdict(e <= b))
		}
		for _, f := range []string{"engaged, uid=0 (matches)", "engaged, uid!=0 (does not match)", "engaged, arg1=7 (matches)", "engaged, arg1!=7 (does not match)"} {
			if v, ok2 := get(f); ok2 {
				doc("| caller filter adds <= 10%% over engaged: %s | %.1f / %.1f ns = %+.1f%% (%+.1f%%) | %s |", f, v, e, (v/e-1)*100, (med(f)/med("killswitch engaged")-1)*100, verdict(v <= e*1.10))
			}
		}
	}
	for _, ref := range []string{"bare kprobe (empty pre-handler)", "bare kprobe, empty pre- and post-handler"} {
		k, ok1 := get(ref)
		if !ok1 {
			continue
		}
		for _, f := range []string{"killswitch tryengage, probing", "killswitch observe"} {
			if v, ok2 := get(f); ok2 {
				doc("| probing <= 1.2x a bare kprobe hit: %s vs %s | %.1f / %.1f ns = %.2fx (%.2fx) | %s |", f, ref, v, k, v/k, med(f)/med(ref), verdict(v <= k*1.2))
			}
		}
	}
	if all300 > 0 && all1000 > 0 {
		r300 := float64(one300) / float64(all300)
		r1000 := float64(one1000) / float64(all1000)
		doc("| batched teardown >= 3x faster per entry: 300 | %.2fx | %s |", r300, verdict(r300 >= 3))
		doc("| batched teardown >= 3x faster per entry: 1000 | %.2fx | %s |", r1000, verdict(r1000 >= 3))
	}
	if len(checkT) > 0 {
		c := quantile(checkT, 0)
		doc("| `killswitch check` < 300 ms (fastest of %d) | %s | %s |", len(checkT), ms(c), verdict(c < 300*time.Millisecond))
	}
	if len(mitT) > 0 {
		m := quantile(mitT, 0)
		doc("| `mitigate` < 1 s + probe window (none for %s; fastest of %d) | %s | %s |", mitigateCVE, len(mitT), ms(m), verdict(m < time.Second))
	}
	for _, l := range out {
		fmt.Println("# bench: " + l)
	}
	if n, err := engagedCount(); err != nil || n != 0 {
		nok("cleanup", "%d entries left (%v)", n, err)
	}
	if pass, _ := suite.Counts(); pass == 0 {
		must("end", errors.New("nothing measured"))
	}
	os.Exit(suite.Done())
}

func sumDur(d []time.Duration) time.Duration {
	var s time.Duration
	for _, x := range d {
		s += x
	}
	return s
}
