// Command 45-guard proves the module's guard rails on the running
// kernel's own functions. It reads /sys/kernel/btf/vmlinux, lists every
// function a check rule of kernel/guard.rails covers (preflight's
// GuardTargets: integrity, errno, yes/no and either classes, returning an
// integer or a bool, or anything for integrity), and writes
// "engage <sym> <value>" to the control file for each value that fails
// open at the width callers read that function's return type. Every write
// must fail with EACCES and leave nothing engaged. One result line per
// rule: the rule, how many functions it covers here, and any function it
// let through.
//
// It then engages a fail-closed value for a few functions of each
// accepting class, filtered to uid 65534 so that nothing else is denied,
// checks the retval file is judged the same way (the boundaries -4095 and
// -4096, and -4294967296, which is 0 to an int caller), disengages, and
// reloads the module with guard=0 to show that without lockdown it
// lets a fail-open value through. guard=0 under lockdown is not tested
// here: lockdown cannot be lifted, and runtime engagement is refused
// under it before the guard runs.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/kstest"
	"github.com/killswitch/killswitch/internal/preflight"
	"github.com/killswitch/killswitch/internal/vmtest/tap"
)

const (
	nobody = 65534
	// samples is how many functions per accepting class are engaged at
	// their fail-closed value.
	samples = 3
	// maxLogLines bounds the guard's refusal lines: they are rate-limited.
	maxLogLines = 1000
)

var (
	suite         = tap.New("45-guard", "guard")
	ok, nok, note = suite.Ok, suite.Nok, suite.Note
)

func fatal(format string, args ...any) {
	nok("setup", format, args...)
	os.Exit(suite.Done())
}

func control(line string) unix.Errno {
	return kstest.Write(kstest.Control, []byte(line+"\n"))
}

// engaged returns the names under fn/: what the module holds.
func engaged() []string {
	ents, _ := os.ReadDir(ksfs.Dir + "/fn")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func main() {
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	note("kernel %s label=%s", strings.TrimSpace(string(rel)), os.Getenv("KS_KERNEL"))

	f, err := os.Open("/sys/kernel/btf/vmlinux")
	if err != nil {
		fatal("%v", err)
	}
	spec, err := btf.LoadSpecFromReader(f)
	f.Close()
	if err != nil {
		fatal("read /sys/kernel/btf/vmlinux: %v", err)
	}
	targets, err := preflight.GuardTargets(spec)
	if err != nil {
		fatal("%v", err)
	}
	byRule := map[string][]preflight.GuardTarget{}
	var rules []string
	for _, t := range targets {
		if byRule[t.Rule.Pattern] == nil {
			rules = append(rules, t.Rule.Pattern)
		}
		byRule[t.Rule.Pattern] = append(byRule[t.Rule.Pattern], t)
	}
	sort.Strings(rules)
	// The plan: a line per rule, the listing, the log, then the sample,
	// retval and guard=0 checks.
	fmt.Printf("1..%d\n", len(rules)+5)

	mods, err := kstest.NewModules()
	if err != nil {
		fatal("%v", err)
	}
	restore, err := kstest.QuietConsole()
	if err != nil {
		fatal("%v", err)
	}
	defer restore()
	watch, err := kstest.WatchKmsg([]string{"killswitch: engage "}, func(line string) {
		nok("kernel log", "the kernel reports a bug: %s", line)
	})
	if err != nil {
		fatal("%v", err)
	}
	mods.Unload("test_killswitch")
	mods.Unload("killswitch")
	if e := mods.Load("killswitch", ""); e != 0 {
		fatal("loading killswitch.ko: %s", kstest.ErrnoName(e))
	}

	start := time.Now()
	writes := 0
	perClass := map[preflight.GuardClass]int{}
	for _, pat := range rules {
		ts := byRule[pat]
		class := ts[0].Rule.Class
		perClass[class] += len(ts)
		var bad []string
		for _, t := range ts {
			for _, v := range t.FailOpen {
				writes++
				e := control(fmt.Sprintf("engage %s %d", t.Name, v))
				if e == unix.EACCES {
					continue
				}
				bad = append(bad, fmt.Sprintf("%s (%s) %d: %s", t.Name, t.Returns, v, kstest.ErrnoName(e)))
				if e == 0 {
					control("disengage " + t.Name)
				}
			}
		}
		what := fmt.Sprintf("rule %s (%s) refuses every fail-open value of its %d functions", pat, class, len(ts))
		if len(bad) == 0 {
			ok("%s", what)
			continue
		}
		more := ""
		if len(bad) > 5 {
			more = fmt.Sprintf(" and %d more", len(bad)-5)
			bad = bad[:5]
		}
		nok(what, "accepted or failed otherwise: %s%s", strings.Join(bad, "; "), more)
	}
	note("%d check functions (%d integrity, %d errno, %d yesno, %d either), %d writes in %s",
		len(targets), perClass[preflight.GuardIntegrity], perClass[preflight.GuardErrno],
		perClass[preflight.GuardYesNo], perClass[preflight.GuardEither], writes, time.Since(start).Round(time.Millisecond))
	if left := engaged(); len(left) == 0 {
		ok("nothing is engaged after %d refused writes", writes)
	} else {
		nok("nothing is engaged after the refused writes", "fn/ holds %s", strings.Join(left, " "))
		control("disengage_all")
	}
	time.Sleep(500 * time.Millisecond) // let the watch read the log
	if n := watch.Counted("killswitch: engage "); n > 0 && n <= maxLogLines {
		ok("%d refusal lines for %d refusals: rate-limited", n, writes)
	} else {
		nok("refusal lines are rate-limited", "%d lines for %d refusals", n, writes)
	}

	failClosed(byRule, rules)
	retvalFile(byRule, rules)
	guardOff(mods, byRule, rules)

	watch.Stop()
	if e := mods.Unload("killswitch"); e != 0 {
		nok("rmmod killswitch", "%s", kstest.ErrnoName(e))
	}
	os.Exit(suite.Done())
}

// kallsyms returns the functions the kernel has, by name.
func kallsyms() map[string]bool {
	b, _ := os.ReadFile("/proc/kallsyms")
	out := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && (f[1] == "t" || f[1] == "T") {
			out[f[2]] = true
		}
	}
	return out
}

// pick returns up to n functions of class that kallsyms has once.
func pick(byRule map[string][]preflight.GuardTarget, rules []string, class preflight.GuardClass, n int) []preflight.GuardTarget {
	count := map[string]int{}
	b, _ := os.ReadFile("/proc/kallsyms")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			count[f[2]]++
		}
	}
	have := kallsyms()
	var out []preflight.GuardTarget
	for _, pat := range rules {
		for _, t := range byRule[pat] {
			if t.Rule.Class == class && have[t.Name] && count[t.Name] == 1 && len(out) < n {
				out = append(out, t)
				break // one per rule: spread over the classes' rules
			}
		}
	}
	return out
}

// failClosed engages the fail-closed value of a few functions of each
// accepting class, for uid 65534 only. A refusal other than EACCES (the
// kprobe layer's, say) still shows the guard let the value through.
func failClosed(byRule map[string][]preflight.GuardTarget, rules []string) {
	var bad, seen []string
	for _, class := range []preflight.GuardClass{preflight.GuardErrno, preflight.GuardYesNo} {
		for _, t := range pick(byRule, rules, class, samples) {
			e := control(fmt.Sprintf("engage %s %d uid=%d", t.Name, t.FailClosed, nobody))
			seen = append(seen, fmt.Sprintf("%s=%d:%s", t.Name, t.FailClosed, kstest.ErrnoName(e)))
			if e == unix.EACCES {
				bad = append(bad, t.Name)
			}
			if e == 0 {
				if d := control("disengage " + t.Name); d != 0 {
					bad = append(bad, "disengage "+t.Name+": "+kstest.ErrnoName(d))
				}
			}
		}
	}
	note("fail-closed engagements: %s", strings.Join(seen, " "))
	switch {
	case len(seen) < 2*samples:
		nok("fail-closed values are accepted", "only %d sample functions found", len(seen))
	case len(bad) > 0:
		nok("fail-closed values are accepted", "refused: %s", strings.Join(bad, ", "))
	default:
		ok("fail-closed values of %d errno and yes/no checks are accepted and disengaged", len(seen))
	}
}

// retvalFile judges retval writes at the width callers read, like engage.
func retvalFile(byRule map[string][]preflight.GuardTarget, rules []string) {
	ts := pick(byRule, rules, preflight.GuardErrno, 1)
	if len(ts) == 0 {
		nok("retval file", "no errno check to engage")
		return
	}
	sym := ts[0].Name
	if e := control(fmt.Sprintf("engage %s -1 uid=%d", sym, nobody)); e != 0 {
		nok("retval file", "engage %s -1 uid=%d: %s", sym, nobody, kstest.ErrnoName(e))
		return
	}
	defer control("disengage " + sym)
	var bad []string
	for _, tc := range []struct {
		v    int64
		want unix.Errno
	}{
		{-4095, 0}, {-13, 0}, {-4096, unix.EACCES}, {0, unix.EACCES}, {1, unix.EACCES},
		{-0x1_0000_0000, unix.EACCES}, {-0x8000_0000_0000_0000, unix.EACCES},
	} {
		if e := kstest.Write(kstest.FnFile(sym, "retval"), []byte(strconv.FormatInt(tc.v, 10)+"\n")); e != tc.want {
			bad = append(bad, fmt.Sprintf("%d: %s, want %s", tc.v, kstest.ErrnoName(e), kstest.ErrnoName(tc.want)))
		}
	}
	if got, _ := kstest.Read(kstest.FnFile(sym, "retval")); strings.TrimSpace(got) != "-13" {
		bad = append(bad, "retval reads "+strings.TrimSpace(got)+", want -13")
	}
	if len(bad) > 0 {
		nok("retval writes are judged like engage", "%s: %s", sym, strings.Join(bad, "; "))
		return
	}
	ok("retval writes to %s: -4095 and -13 accepted; -4096, 0, 1, -4294967296 and INT64_MIN refused", sym)
}

// guardOff reloads the module with guard=0: without lockdown it lets a
// fail-open value through, for uid 65534 only.
func guardOff(mods *kstest.Modules, byRule map[string][]preflight.GuardTarget, rules []string) {
	const what = "guard=0 without lockdown lets a fail-open value through"
	ts := pick(byRule, rules, preflight.GuardErrno, 1)
	if len(ts) == 0 {
		nok(what, "no errno check to engage")
		return
	}
	sym := ts[0].Name
	defer func() {
		mods.Unload("killswitch")
		if e := mods.Load("killswitch", ""); e != 0 {
			nok("reload with the guard on", "%s", kstest.ErrnoName(e))
		}
	}()
	if e := mods.Unload("killswitch"); e != 0 {
		nok(what, "rmmod killswitch: %s", kstest.ErrnoName(e))
		return
	}
	if e := mods.Load("killswitch", "guard=0"); e != 0 {
		nok(what, "insmod killswitch guard=0: %s", kstest.ErrnoName(e))
		return
	}
	e := control(fmt.Sprintf("engage %s 0 uid=%d", sym, nobody))
	if e != 0 {
		nok(what, "engage %s 0 uid=%d: %s", sym, nobody, kstest.ErrnoName(e))
		return
	}
	if d := control("disengage " + sym); d != 0 {
		nok(what, "disengage %s: %s", sym, kstest.ErrnoName(d))
		return
	}
	ok("guard=0 without lockdown: engage %s 0 uid=%d accepted and disengaged", sym, nobody)
}
