// Command 91-fuzz feeds killswitch.ko generated and mutated input in the
// test VM: control lines (grammar-aware generation, then byte-level
// mutations), retval-file writes, and engage= strings at module load.
//
// An oracle, a Go transcription of the module's grammar (ks_control.c,
// ks_modparam.c) and of its rules (guard rails from internal/preflight,
// EBUSY on a second engage, ENOENT for a missing symbol), predicts each
// input's errno; any difference is a failure. A refused write must leave
// the engaged listing byte for byte as it was (a baseline of one filtered
// engagement and one observe is held throughout); an accepted one must
// show in the listing as the oracle says, and is then undone.
//
// Only safe symbols are ever engaged: the test module's functions (nobody
// calls them during the fuzz), names the guard refuses whatever happens,
// and names that do not exist (checked against /proc/kallsyms). An input
// the oracle says would engage anything else is not written (counted as
// skipped), so a mutation cannot switch off a real kernel function.
//
// Settings: KS_FUZZ_INPUTS (control writes, default 100000), KS_FUZZ_RETVAL
// (retval writes, 10000), KS_FUZZ_MODPARAMS (reloads with engage=, 40),
// KS_FUZZ_SEED (default from the clock, printed), KS_FUZZ_LIMIT (time cap,
// 12m: reaching it before the counts is a failure), KS_KMEMLEAK=1.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/kstest"
	"github.com/killswitch/killswitch/internal/preflight"
	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

// The module's limits (ks.h, linux/kallsyms.h, linux/limits.h).
const (
	ksymNameLen = 512
	pathMax     = 4096
	cmdMax      = ksymNameLen + pathMax + 32
	maxTokens   = 4 + 6
	maxFilters  = 6
	maxProbe    = 86400
	retvalMax   = 32
	charpMax    = 1024
	maxReported = 40
)

var testFns = map[string]bool{"ks_test_vuln": true, "ks_test_void": true, "ks_test_bool": true, "ks_test_ptr": true}

type filter struct {
	uid   bool
	arg   int
	neg   bool
	int32 bool // arg<N>:32
	value int64
}

// String is the module's rendering (ks_format_filters), as ksfs has it.
func (f filter) String() string {
	k := ksfs.Filter{Arg: f.arg, Negate: f.neg, Value: f.value, Int32: f.int32}
	if f.uid {
		k.Arg = 0
	}
	return k.String()
}

type verb int

const (
	vEngage verb = iota
	vTryengage
	vObserve
	vEngageBPF
	vDisengage
	vDisengageAll
)

type request struct {
	verb    verb
	sym     string
	retval  int64
	timeout uint64
	filters []filter
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSymChar(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || c == ':' || c == '@'
}

func validSym(s string) bool { return len(s) < ksymNameLen && kstest.All(s, isSymChar) }

func parseFilter(s string) (filter, bool) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return filter{}, false
	}
	var f filter
	if name != "" && name[len(name)-1] == '!' {
		f.neg = true
		name = name[:len(name)-1]
	}
	v, ok := kstest.ParseLong(val)
	if !ok {
		return filter{}, false
	}
	switch {
	case name == "uid":
		if v < 0 || v > 1<<32-1 {
			return filter{}, false
		}
		f.uid = true
	case (len(name) == 4 || len(name) == 7 && name[4:] == ":32") && strings.HasPrefix(name, "arg") && name[3] >= '1' && name[3] <= '6':
		f.arg = int(name[3] - '0')
		f.int32 = len(name) == 7
		if f.int32 && (v < -1<<31 || v > 1<<32-1) {
			return filter{}, false
		}
	default:
		return filter{}, false
	}
	f.value = v
	return f, true
}

// parseControl is ks_copy_write + ks_parse_request: the request, or false
// for EINVAL.
func parseControl(b []byte) (request, bool) {
	if len(b) == 0 || len(b) > cmdMax || bytes.IndexByte(b, 0) >= 0 {
		return request{}, false
	}
	line := string(b)
	line = strings.TrimSuffix(line, "\n")
	for i := 0; i < len(line); i++ {
		if c := line[i]; c != ' ' && c != '\t' && (c < 0x21 || c > 0x7e) {
			return request{}, false
		}
	}
	tok := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(tok) == 0 || len(tok) > maxTokens {
		return request{}, false
	}
	if tok[0] == "disengage_all" {
		return request{verb: vDisengageAll}, len(tok) == 1
	}
	if len(tok) < 2 || !validSym(tok[1]) {
		return request{}, false
	}
	r := request{sym: tok[1]}
	filters := func(ts []string) bool {
		if len(ts) > maxFilters {
			return false
		}
		for _, t := range ts {
			f, ok := parseFilter(t)
			if !ok {
				return false
			}
			r.filters = append(r.filters, f)
		}
		return true
	}
	var ok bool
	switch tok[0] {
	case "engage":
		r.verb = vEngage
		if len(tok) < 3 {
			return r, false
		}
		if r.retval, ok = kstest.ParseLong(tok[2]); !ok {
			return r, false
		}
		return r, filters(tok[3:])
	case "tryengage":
		r.verb = vTryengage
		if len(tok) < 4 {
			return r, false
		}
		if r.retval, ok = kstest.ParseLong(tok[2]); !ok || !kstest.All(tok[3], isDigit) {
			return r, false
		}
		t, err := strconv.ParseUint(tok[3], 10, 32)
		if err != nil || t > maxProbe {
			return r, false
		}
		r.timeout = t
		return r, filters(tok[4:])
	case "engagebpf":
		r.verb = vEngageBPF
		return r, len(tok) == 3 && tok[2][0] == '/' && len(tok[2]) < pathMax
	case "observe":
		r.verb = vObserve
	case "disengage":
		r.verb = vDisengage
	default:
		return r, false
	}
	return r, len(tok) == 2
}

// guardRefuses is ks_guard_check (guard=1), through internal/preflight's
// copy of its rules.
func guardRefuses(sym string, retval int64) bool {
	_, refused := preflight.GuardRefuses(sym, retval)
	return refused
}

type entry struct {
	sym     string
	state   string
	retval  int64
	filters []filter
	timeout uint64
}

type fuzz struct {
	r        *rand.Rand
	mods     *kstest.Modules
	kallsyms map[string]bool
	model    []entry // the listing, in order
	baseline string  // the listing's text with only the baseline held

	inputs, accepted, skipped, mismatches int
	byErrno                               map[string]int
	// unchecked holds the refused writes (EINVAL) since the listing was
	// last read: it is read after every 8th, and after every other refusal.
	unchecked []refusal
	// ctl and eng stay open between inputs (one write per command, pread
	// of the listing): open and close cost more than the write under TCG.
	// They pin the module: closeFiles before unloading it.
	ctl, eng int
	buf      []byte
}

func (z *fuzz) openFiles() {
	var err error
	if z.ctl, err = unix.Open(kstest.Control, unix.O_WRONLY|unix.O_CLOEXEC, 0); err != nil {
		fatal("opening %s: %v", kstest.Control, err)
	}
	if z.eng, err = unix.Open(kstest.Engaged, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		fatal("opening %s: %v", kstest.Engaged, err)
	}
}

func (z *fuzz) closeFiles() {
	unix.Close(z.ctl)
	unix.Close(z.eng)
}

// command writes one control line on the open control file.
func (z *fuzz) command(b []byte) unix.Errno {
	n, err := unix.Write(z.ctl, b)
	if err == nil && n != len(b) {
		return unix.EIO
	}
	return kstest.Errno(err)
}

// refusal is a refused input not yet checked against the listing.
type refusal struct {
	in string
	e  unix.Errno
}

// checkRefused verifies that the refused writes since the last check
// left the listing as it was. A change would persist, so reading after a
// batch of parse errors catches it as surely as after each one.
func (z *fuzz) checkRefused(in string, e unix.Errno) {
	z.unchecked = append(z.unchecked, refusal{in, e})
	if e == unix.EINVAL && len(z.unchecked) < 8 {
		return
	}
	z.flush()
}

// flush reads the listing for the refused writes not yet checked; it runs
// before every write the oracle expects to be accepted.
func (z *fuzz) flush() {
	if len(z.unchecked) == 0 {
		return
	}
	if l := z.listing(); l != z.baseline {
		var ins []string
		for _, u := range z.unchecked {
			ins = append(ins, fmt.Sprintf("%q (%s)", u.in, kstest.ErrnoName(u.e)))
		}
		z.nok("refused writes %s changed the listing to %q", strings.Join(ins, ", "), l)
		z.setBaseline()
	}
	z.unchecked = z.unchecked[:0]
}

func (z *fuzz) nok(format string, args ...any) {
	z.mismatches++
	// A comment, not a result: the suite's results are fixed in number
	// (its plan); the closing result fails and counts these.
	if z.mismatches <= maxReported {
		fmt.Printf("# fuzz: FAILURE: "+format+"\n", args...)
	} else if z.mismatches == maxReported+1 {
		fmt.Printf("# fuzz: further failures are only counted\n")
	}
}

func note(format string, args ...any) { fmt.Printf("# fuzz: "+format+"\n", args...) }

// restoreConsole undoes kstest.QuietConsole, also on a fatal exit.
var restoreConsole = func() {}

func fatal(format string, args ...any) {
	restoreConsole()
	fmt.Printf("not ok - fuzz: "+format+"\n", args...)
	os.Exit(1)
}

func envInt(name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil || n < 0 {
		fatal("%s=%q: not a non-negative integer", name, v)
	}
	return n
}

func main() {
	// The plan: the closing verdict, and kmemleak's where it scans.
	// Failures are comments counted by the verdict.
	planned := 1
	if os.Getenv("KS_KMEMLEAK") == "1" {
		planned++
	}
	fmt.Println(vmproto.PlanText(planned))
	seed := envInt("KS_FUZZ_SEED", time.Now().UnixNano())
	nControl := int(envInt("KS_FUZZ_INPUTS", 100000))
	nRetval := int(envInt("KS_FUZZ_RETVAL", 10000))
	nParams := int(envInt("KS_FUZZ_MODPARAMS", 40))
	limit := 12 * time.Minute
	if v := os.Getenv("KS_FUZZ_LIMIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fatal("KS_FUZZ_LIMIT=%q: not a positive duration", v)
		}
		limit = d
	}
	note("seed %d (rerun: KS_FUZZ_SEED=%d): %d control writes, %d retval writes, %d engage= loads, limit %s", seed, seed, nControl, nRetval, nParams, limit)
	mods, err := kstest.NewModules()
	if err != nil {
		fatal("%v", err)
	}
	restore, err := kstest.QuietConsole()
	if err != nil {
		fatal("%v", err)
	}
	restoreConsole = restore
	defer restore()
	watch, err := kstest.WatchKmsg(nil, func(line string) { fmt.Printf("# fuzz: FAILURE: kernel reports a bug: %s\n", line) })
	if err != nil {
		fatal("%v", err)
	}
	z := &fuzz{r: rand.New(rand.NewSource(seed)), mods: mods, byErrno: map[string]int{}, buf: make([]byte, 64<<10)}
	mods.Unload("test_killswitch")
	mods.Unload("killswitch")
	if e := mods.Load("killswitch", ""); e != 0 {
		fatal("loading killswitch.ko: %s", kstest.ErrnoName(e))
	}
	if e := mods.Load("test_killswitch", ""); e != 0 {
		fatal("loading test_killswitch.ko: %s", kstest.ErrnoName(e))
	}
	if z.kallsyms, err = readKallsyms(); err != nil {
		fatal("%v", err)
	}
	z.openFiles()
	z.setBaseline()

	start := time.Now()
	deadline := start.Add(limit)
	phase := func(name string, n int, one func()) {
		t := time.Now()
		before, shown := z.inputs, 0
		for z.inputs-before < n && time.Now().Before(deadline) {
			one()
			if k := z.inputs - before; k/20000 > shown {
				shown = k / 20000
				note("%s: %d inputs, %d accepted so far, %s", name, k, z.accepted, time.Since(t).Round(time.Second))
			}
		}
		done := z.inputs - before
		note("%s: %d inputs in %s", name, done, time.Since(t).Round(time.Millisecond))
		if done < n {
			z.nok("%s: only %d of %d inputs within KS_FUZZ_LIMIT=%s", name, done, n, limit)
		}
	}
	phase("control", nControl, z.control)
	phase("retval", nRetval, z.retvalWrite)
	z.flush()
	phase("engage=", nParams, z.modparam)
	elapsed := time.Since(start)

	if e := z.command([]byte("disengage_all\n")); e != 0 {
		z.nok("final disengage_all: %s", kstest.ErrnoName(e))
	}
	z.closeFiles()
	for _, m := range []string{"test_killswitch", "killswitch"} {
		if e := mods.Unload(m); e != 0 {
			z.nok("final rmmod %s: %s", m, kstest.ErrnoName(e))
		}
	}
	if os.Getenv("KS_KMEMLEAK") == "1" {
		rep, err := kstest.KmemleakScan()
		switch {
		case err != nil:
			fmt.Printf("not ok - fuzz: kmemleak: %v\n", err)
		case rep != "":
			for _, l := range strings.Split(rep, "\n") {
				fmt.Printf("# kmemleak: %s\n", l)
			}
			fmt.Printf("not ok - fuzz: kmemleak: %d suspected leaks\n", len(kstest.LeakBlocks(rep)))
		default:
			fmt.Printf("ok - fuzz: kmemleak found no leak after two scans\n")
		}
	}
	time.Sleep(500 * time.Millisecond)
	watch.Stop()
	// Tell ks-vminit the watch saw the whole log of this run, so records
	// its own reader may have lost here are no reason to fail.
	if proof, ok := watch.Complete(); ok {
		fmt.Println(proof)
	}
	splats := len(watch.Splats())

	keys := make([]string, 0, len(z.byErrno))
	for k := range z.byErrno {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, z.byErrno[k]))
	}
	note("outcomes (input:errno=count): %s", strings.Join(parts, " "))
	note("%d inputs, %d accepted, %d refused, %d skipped as unsafe to engage, %d kernel bug lines, %s",
		z.inputs, z.accepted, z.inputs-z.accepted, z.skipped, splats, elapsed.Round(time.Millisecond))
	if z.mismatches == 0 && splats == 0 {
		fmt.Printf("ok - fuzz: %d inputs (%d accepted), every errno as the grammar predicts, refused writes changed nothing (seed %d)\n", z.inputs, z.accepted, seed)
		return
	}
	fmt.Printf("not ok - fuzz: %d failures (the FAILURE lines above), %d kernel bug lines (seed %d)\n", z.mismatches, splats, seed)
}

func readKallsyms() (map[string]bool, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/kallsyms: %w", err)
	}
	defer f.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 3 {
			names[fs[2]] = true
		}
	}
	if len(names) < 1000 || !names["ks_test_vuln"] {
		return nil, fmt.Errorf("/proc/kallsyms lists %d names, ks_test_vuln among them: %v (kallsyms must be readable and the test module loaded)", len(names), names["ks_test_vuln"])
	}
	return names, sc.Err()
}

// resolve says what register_kprobe does with sym: "test" for a test
// function, "missing" for a name no symbol has, "unsafe" otherwise (a real
// function the fuzzer must not engage, or a test function reachable under
// two names).
func (z *fuzz) resolve(sym string) string {
	name := sym
	if mod, rest, ok := strings.Cut(sym, ":"); ok {
		if mod == "test_killswitch" && testFns[rest] {
			return "unsafe" // an alias of a test function: two entries, one address
		}
		name = rest
	}
	switch {
	case testFns[name] && name == sym:
		return "test"
	case z.kallsyms[name] || z.kallsyms[sym]:
		return "unsafe"
	}
	return "missing"
}

func (z *fuzz) find(sym string) int {
	for i, e := range z.model {
		if e.sym == sym {
			return i
		}
	}
	return -1
}

// predict returns the errno the module should give for a parsed request
// and the model after it; ok false when the input must not be written.
func (z *fuzz) predict(req request) (want unix.Errno, after []entry, ok bool) {
	after = append([]entry(nil), z.model...)
	i := z.find(req.sym)
	switch req.verb {
	case vDisengageAll:
		return 0, nil, true
	case vDisengage:
		if i < 0 {
			return unix.ENOENT, after, true
		}
		return 0, append(after[:i], after[i+1:]...), true
	case vEngageBPF:
		// The program's value is unknown: the rails refuse what they
		// refuse at 0 or 1 before anything else.
		if guardRefuses(req.sym, 0) || guardRefuses(req.sym, 1) {
			return unix.EACCES, after, true
		}
		// Runs the user-mode helper: rare, and never accepted with the
		// paths generated here (none is a BPF object).
		return unix.EIO, after, z.r.Intn(200) == 0
	}
	if req.verb != vObserve && guardRefuses(req.sym, req.retval) {
		return unix.EACCES, after, true
	}
	if i >= 0 {
		if req.verb == vEngage && after[i].state == "observing" {
			after[i] = entry{sym: req.sym, state: "engaged", retval: req.retval, filters: req.filters}
			return 0, after, true
		}
		return unix.EBUSY, after, true
	}
	// ks_target_prepare refuses these by name, before any lookup.
	if plain, _, _ := strings.Cut(req.sym, "@"); strings.Contains(plain, ".cold") || strings.Contains(req.sym, "@") {
		if strings.Contains(plain, ".cold") || !strings.HasPrefix(req.sym[len(plain):], "@0x") {
			return unix.EINVAL, after, true
		}
		return 0, nil, false // an address: whatever lies there
	}
	switch z.resolve(req.sym) {
	case "unsafe":
		return 0, nil, false
	case "missing":
		return unix.ENOENT, after, true
	}
	e := entry{sym: req.sym, state: "engaged", retval: req.retval, filters: req.filters, timeout: req.timeout}
	switch {
	case req.verb == vObserve:
		e = entry{sym: req.sym, state: "observing"}
	case req.verb == vTryengage && req.timeout > 0:
		e.state = "probing"
	}
	return 0, append(after, e), true
}

func (z *fuzz) count(kind string, e unix.Errno) {
	z.inputs++
	if e == 0 {
		z.accepted++
	}
	z.byErrno[kind+":"+kstest.ErrnoName(e)]++
}

// setBaseline empties the module and installs the baseline.
func (z *fuzz) setBaseline() {
	for _, l := range []string{"disengage_all", "engage ks_test_void -5 uid!=4242", "observe ks_test_bool"} {
		if e := z.command([]byte(l + "\n")); e != 0 {
			fatal("baseline %q: %s", l, kstest.ErrnoName(e))
		}
	}
	z.model = baselineModel()
	z.baseline = z.listing()
	z.check("baseline")
}

func (z *fuzz) listing() string {
	var out []byte
	for {
		n, err := unix.Pread(z.eng, z.buf, int64(len(out)))
		if err != nil {
			fatal("reading engaged: %v", err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, z.buf[:n]...)
	}
}

// check compares the listing with the model.
func (z *fuzz) check(what string) bool {
	raw := z.listing()
	got, err := ksfs.ParseEngaged(raw)
	if err != nil {
		z.nok("%s: listing %q: %v", what, raw, err)
		return false
	}
	var g, w []string
	for i, e := range got {
		st := e.State
		// A window of a second or two may end before the listing is read
		// on a slow kernel: nothing calls the test functions, so it commits.
		if i < len(z.model) && z.model[i].state == "probing" && z.model[i].timeout <= 2 && st == ksfs.StateEngaged {
			st = ksfs.StateProbing
		}
		g = append(g, fmt.Sprintf("%s %s retval=%d filter=%s", e.Symbol, st, e.Retval, e.Filter))
	}
	for _, e := range z.model {
		fs := make([]string, len(e.filters))
		for i, f := range e.filters {
			fs[i] = f.String()
		}
		w = append(w, fmt.Sprintf("%s %s retval=%d filter=%s", e.sym, e.state, e.retval, strings.Join(fs, ",")))
	}
	if strings.Join(g, "; ") != strings.Join(w, "; ") {
		z.nok("%s: listing [%s], oracle says [%s]", what, strings.Join(g, "; "), strings.Join(w, "; "))
		return false
	}
	return true
}

// baselineModel is what setBaseline installs.
func baselineModel() []entry {
	return []entry{
		{sym: "ks_test_void", state: "engaged", retval: -5, filters: []filter{{uid: true, neg: true, value: 4242}}},
		{sym: "ks_test_bool", state: "observing"},
	}
}

var baselineLines = map[string]string{"ks_test_void": "engage ks_test_void -5 uid!=4242", "ks_test_bool": "observe ks_test_bool"}

func sameEntry(a, b entry) bool {
	return a.sym == b.sym && a.state == b.state && a.retval == b.retval && fmt.Sprint(a.filters) == fmt.Sprint(b.filters)
}

// restore brings the module back to the baseline after an accepted write,
// touching only what changed; the listing's order may change with it.
func (z *fuzz) restore(what string) {
	var kept []entry
	for _, e := range z.model {
		base := false
		for _, b := range baselineModel() {
			base = base || sameEntry(e, b)
		}
		if base {
			kept = append(kept, e)
			continue
		}
		if e := z.command([]byte("disengage " + e.sym + "\n")); e != 0 {
			z.nok("%s: undo: disengage: %s", what, kstest.ErrnoName(e))
		}
	}
	for _, b := range baselineModel() {
		have := false
		for _, k := range kept {
			have = have || k.sym == b.sym
		}
		if !have {
			if e := z.command([]byte(baselineLines[b.sym] + "\n")); e != 0 {
				z.nok("%s: undo: %q: %s", what, baselineLines[b.sym], kstest.ErrnoName(e))
			}
			kept = append(kept, b)
		}
	}
	z.model = kept
	if z.check(what + ": after undo") {
		z.baseline = z.listing()
	}
}

func (z *fuzz) control() {
	var in []byte
	if z.r.Intn(3) == 0 {
		in = z.mutate(z.genLine())
	} else {
		in = []byte(z.genLine())
		if z.r.Intn(4) > 0 {
			in = append(in, '\n')
		}
	}
	req, parsed := parseControl(in)
	want := unix.EINVAL
	after := z.model
	if parsed {
		var ok bool
		if want, after, ok = z.predict(req); !ok {
			z.skipped++
			return
		}
	}
	if want == 0 {
		z.flush()
	}
	e := z.command(in)
	z.count("control", e)
	if e != want && !(req.verb == vEngageBPF && parsed && e != 0) {
		z.nok("control %q: %s, oracle says %s", in, kstest.ErrnoName(e), kstest.ErrnoName(want))
	}
	if e != 0 {
		z.checkRefused("control "+string(in), e)
		return
	}
	z.unchecked = z.unchecked[:0]
	z.model = after
	z.check(fmt.Sprintf("control %q", in))
	z.restore(fmt.Sprintf("control %q", in))
}

func (z *fuzz) retvalWrite() {
	n := z.genNumber()
	var in []byte
	switch z.r.Intn(4) {
	case 0:
		in = z.mutate(n)
	case 1:
		in = []byte(n)
	default:
		in = []byte(n + "\n")
	}
	want := unix.EINVAL
	v, ok := int64(0), false
	if len(in) > 0 && len(in) <= retvalMax && bytes.IndexByte(in, 0) < 0 {
		v, ok = kstest.ParseLong(strings.TrimSuffix(string(in), "\n"))
		if ok {
			want = 0
		}
	}
	if want == 0 {
		z.flush()
	}
	e := kstest.Write(kstest.FnFile("ks_test_void", "retval"), in)
	z.count("retval", e)
	if e != want {
		z.nok("retval %q: %s, oracle says %s", in, kstest.ErrnoName(e), kstest.ErrnoName(want))
	}
	if e != 0 {
		z.checkRefused("retval "+string(in), e)
		return
	}
	z.unchecked = z.unchecked[:0]
	// An undo may have put ks_test_void after ks_test_bool.
	i := z.find("ks_test_void")
	z.model[i].retval = v
	z.check(fmt.Sprintf("retval %q", in))
	if e := kstest.Write(kstest.FnFile("ks_test_void", "retval"), []byte("-5\n")); e != 0 {
		z.nok("restoring ks_test_void's retval: %s", kstest.ErrnoName(e))
	}
	z.model[i].retval = -5
}

// modparam reloads killswitch.ko with a fuzzed engage= value; the module
// must load and hold exactly the entries the oracle accepts.
func (z *fuzz) modparam() {
	var val string
	var want []entry
	for tries := 0; ; tries++ {
		val = z.genParam()
		var ok bool
		if want, ok = z.predictParam(val); ok {
			break
		}
		z.skipped++
	}
	z.closeFiles()
	if e := z.mods.Unload("killswitch"); e != 0 {
		fatal("rmmod killswitch: %s", kstest.ErrnoName(e))
	}
	wantErr := unix.Errno(0)
	if len(val) > charpMax {
		wantErr = unix.ENOSPC
	}
	e := z.mods.Load("killswitch", "engage="+val)
	z.count("engage=", e)
	if e != wantErr {
		z.nok("insmod killswitch.ko engage=%q: %s, oracle says %s", val, kstest.ErrnoName(e), kstest.ErrnoName(wantErr))
	}
	if e != 0 {
		if e := z.mods.Load("killswitch", ""); e != 0 {
			fatal("loading killswitch.ko again: %s", kstest.ErrnoName(e))
		}
		z.openFiles()
		z.setBaseline()
		return
	}
	z.openFiles()
	z.model = want
	z.check(fmt.Sprintf("engage=%q", val))
	z.setBaseline()
}

// predictParam is ks_modparam_apply; false when an item would engage an
// unsafe symbol (or the value could not travel as one module parameter).
func (z *fuzz) predictParam(val string) ([]entry, bool) {
	var out []entry
	for i := 0; i < len(val); i++ {
		if c := val[i]; c <= ' ' || c > '~' || c == '"' {
			return nil, false
		}
	}
	if len(val) > charpMax {
		return nil, true
	}
	for _, item := range strings.Split(val, ",") {
		eq := strings.LastIndexByte(item, '=')
		if eq <= 0 {
			continue
		}
		sym := item[:eq]
		v, ok := kstest.ParseLong(item[eq+1:])
		if !ok || !validSym(sym) || guardRefuses(sym, v) {
			continue
		}
		dup := false
		for _, e := range out {
			dup = dup || e.sym == sym
		}
		if dup {
			continue
		}
		switch z.resolve(sym) {
		case "unsafe":
			return nil, false
		case "test":
			out = append(out, entry{sym: sym, state: "engaged", retval: v})
		}
	}
	return out, true
}

// Generators.

var (
	safeSyms = []string{"ks_test_vuln", "ks_test_ptr", "ks_test_void", "ks_test_bool", "kfree", "__kmalloc", "mutex_lock",
		"rcu_read_unlock", "security_file_open", "capable", "ns_capable", "ks_fuzz_missing", "x", ".", ":", "a.b", "mod:kfree",
		"ks_test_vuln.cold", "ks_test_vuln:", "test_killswitch:ks_test_vuln", "KS_TEST_VULN", "ks_test_vuln\x7f"}
	verbs   = []string{"engage", "engage", "tryengage", "tryengage", "observe", "disengage", "engagebpf", "Engage", "engage_all", "", "disengage_all"}
	numbers = []string{"0", "-1", "1", "-22", "+5", "-0", "0x0", "0xffffffffffffffff", "0x8000000000000000", "-0x8000000000000000",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615",
		"18446744073709551616", "0x10000000000000000", "010", "0x", "-", "+", "--1", "+-1", "1e3", "0X1F", "0xg", " 1", "4294967295",
		"4294967296", "-4095", "00000000000000000000000000001"}
	timeouts = []string{"0", "1", "2", "86400", "86401", "-1", "+1", "0x1", "4294967295", "4294967296", "99999999999999999999", ""}
	fnames   = []string{"uid", "arg1", "arg2", "arg6", "arg0", "arg7", "arg", "arg10", "UID", "uid!", "", "!", "arg3:32", "arg1:64", "uid:32", "arg2:"}
	paths    = []string{"/nonexistent.bpf.o", "/", "/tmp", "relative.bpf.o", "/" + strings.Repeat("a", 4100)}
	dict     = []string{"engage", "tryengage", "observe", "disengage", "disengage_all", "engagebpf", "uid=", "uid!=", "arg1=", "!=",
		"ks_test_vuln", "0x", "-", " ", "\t", "\n", "=", ",", ":", "."}
)

func (z *fuzz) pick(l []string) string { return l[z.r.Intn(len(l))] }

func (z *fuzz) genNumber() string {
	if z.r.Intn(3) == 0 {
		return strconv.FormatInt(int64(z.r.Uint64())>>uint(z.r.Intn(64)), []int{10, 16}[z.r.Intn(2)])
	}
	return z.pick(numbers)
}

// genSym picks a symbol. Each engage of a name the kernel lacks, and each
// accepted one, costs a linear kallsyms scan (6.1) and an RCU grace
// period on undo, so those are the rarer choices.
func (z *fuzz) genSym(verb string) string {
	if verb == "disengage" && z.r.Intn(10) > 0 {
		return z.pick([]string{"ks_fuzz_missing", "x", "ks_test_vuln", "kfree"}) // ENOENT: a list lookup
	}
	switch n := z.r.Intn(100); {
	case n < 40:
		return "ks_test_void" // baseline, engaged: EBUSY
	case n < 45:
		return "ks_test_bool" // baseline, observed: EBUSY, or engage converts it
	case n < 80:
		return z.pick([]string{"kfree", "__kmalloc", "mutex_lock", "rcu_read_unlock", "security_file_open", "capable", "ns_capable", "mod:kfree"})
	case n < 82:
		return z.pick([]string{"ks_test_vuln", "ks_test_ptr"})
	case n < 84:
		return z.pick([]string{"ks_fuzz_missing", "x", ".", ":", "a.b", "ks_test_vuln.cold", "ks_test_vuln:", "KS_TEST_VULN", "test_killswitch:ks_test_vuln"})
	case n < 85:
		return strings.Repeat("a", ksymNameLen-1-z.r.Intn(2)+z.r.Intn(2))
	case n < 95:
		return strings.Repeat("ks_", z.r.Intn(300))
	}
	return z.pick(safeSyms)
}

func (z *fuzz) genFilter() string {
	return z.pick(fnames) + []string{"=", "!=", "==", ""}[z.r.Intn(4)] + z.genNumber()
}

func (z *fuzz) genLine() string {
	v := z.pick(verbs[:len(verbs)-1])
	if z.r.Intn(100) == 0 {
		v = "disengage_all" // each one costs a rebuild of the baseline
	}
	parts := []string{v}
	switch v {
	case "disengage_all":
	case "engagebpf":
		parts = append(parts, z.genSym(v), z.pick(paths))
	case "observe", "disengage":
		parts = append(parts, z.genSym(v))
	default:
		parts = append(parts, z.genSym(v), z.genNumber())
		if v == "tryengage" {
			parts = append(parts, z.pick(timeouts))
		}
		for n := z.r.Intn(8); n > 0; n-- {
			parts = append(parts, z.genFilter())
		}
	}
	if z.r.Intn(8) == 0 && len(parts) > 1 {
		parts = parts[:z.r.Intn(len(parts))]
	}
	var b strings.Builder
	if z.r.Intn(10) == 0 {
		b.WriteString(z.pick([]string{" ", "\t", "  "}))
	}
	for i, p := range parts {
		if i > 0 {
			b.WriteString([]string{" ", " ", " ", "\t", "  ", " \t "}[z.r.Intn(6)])
		}
		b.WriteString(p)
	}
	if z.r.Intn(10) == 0 {
		b.WriteString(z.pick([]string{" ", "\t", "\n", "\r", "\x00", " \n"}))
	}
	return b.String()
}

func (z *fuzz) genParam() string {
	var items []string
	for n := z.r.Intn(6); n >= 0; n-- {
		switch z.r.Intn(8) {
		case 0:
			items = append(items, "")
		case 1:
			items = append(items, z.pick(safeSyms))
		case 2:
			items = append(items, "="+z.genNumber())
		default:
			items = append(items, z.pick(safeSyms)+"="+z.genNumber())
		}
	}
	s := strings.Join(items, ",")
	if z.r.Intn(3) == 0 {
		s = string(z.mutate(s))
	}
	if z.r.Intn(30) == 0 {
		s += "," + strings.Repeat("x", charpMax)
	}
	return s
}

// mutate applies 1-4 byte-level changes.
func (z *fuzz) mutate(s string) []byte {
	b := []byte(s)
	for n := 1 + z.r.Intn(4); n > 0; n-- {
		pos := 0
		if len(b) > 0 {
			pos = z.r.Intn(len(b) + 1)
		}
		switch z.r.Intn(9) {
		case 0: // flip a bit
			if len(b) > 0 {
				i := z.r.Intn(len(b))
				b[i] ^= 1 << uint(z.r.Intn(8))
			}
		case 1: // set a byte
			if len(b) > 0 {
				b[z.r.Intn(len(b))] = z.randByte()
			}
		case 2: // insert a byte
			b = append(b[:pos], append([]byte{z.randByte()}, b[pos:]...)...)
		case 3: // delete a range
			if len(b) > 0 {
				i := z.r.Intn(len(b))
				j := i + 1 + z.r.Intn(min(8, len(b)-i))
				b = append(b[:i], b[j:]...)
			}
		case 4: // duplicate a range
			if len(b) > 0 {
				i := z.r.Intn(len(b))
				j := i + 1 + z.r.Intn(min(16, len(b)-i))
				dup := append([]byte(nil), b[i:j]...)
				b = append(b[:j], append(dup, b[j:]...)...)
			}
		case 5: // insert a dictionary token
			t := []byte(z.pick(dict))
			b = append(b[:pos], append(t, b[pos:]...)...)
		case 6: // truncate
			b = b[:pos]
		case 7: // a long run
			b = append(b, bytes.Repeat([]byte{z.randByte()}, z.r.Intn(cmdMax+64))...)
		case 8: // swap two bytes
			if len(b) > 1 {
				i, j := z.r.Intn(len(b)), z.r.Intn(len(b))
				b[i], b[j] = b[j], b[i]
			}
		}
	}
	return b
}

func (z *fuzz) randByte() byte {
	switch z.r.Intn(4) {
	case 0:
		return []byte{0, '\n', '\t', ' ', 0x7f, 0x80, 0xff, '\r', '=', '!', ','}[z.r.Intn(11)]
	case 1:
		return byte(z.r.Intn(256))
	}
	return byte(0x21 + z.r.Intn(0x5e))
}
