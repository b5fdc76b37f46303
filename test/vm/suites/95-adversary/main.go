// Command 95-adversary plays an attacker against killswitch.ko: a local
// user, root under lockdown (who is not trusted there), and root making
// the mistakes the guard rails exist for. Each check is the regression
// test of one finding of the security review (issue 22, numbered F1..F16
// below) or of the hunt after it; every check reports exactly one result.
//
// It runs on the stock kernels, the debug kernel (KASAN, lockdep: the
// harness fails the run on any report) and both signature-enforcing
// kernels, where it checks what root under lockdown can and cannot do.
// Lockdown cannot be lowered, so it reads the level the kernel booted
// with and checks the rules of that level.
package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/kstest"
	"github.com/killswitch/killswitch/internal/vmtest/tap"
)

var (
	suite         = tap.New("95-adversary", "adversary")
	ok, nok, note = suite.Ok, suite.Nok, suite.Note
	mods          *kstest.Modules
	lockdown      string // none, integrity or confidentiality
)

const control = ksfs.Dir + "/control"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "opath-child" {
		os.Exit(opathChild())
	}
	if len(os.Args) > 2 && os.Args[1] == "forge-child" {
		// Name this thread like a caller line with uid 0, then call.
		runtime.LockOSThread()
		name := append([]byte(os.Args[2]), 0)
		_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
		_, _, _ = unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		os.Exit(0)
	}
	var err error
	if mods, err = kstest.NewModules(); err != nil {
		nok("setup", "%v", err)
		os.Exit(suite.Done())
	}
	lockdown = lockdownLevel()
	note("lockdown: %s; arch %s", lockdown, runtime.GOARCH)
	// The plan: every check below reports exactly one result.
	if lockdown != "none" {
		suite.Plan(6)
	} else {
		suite.Plan(34)
	}

	modparamUnderLockdown() // F1
	if lockdown != "none" {
		runtimeUnderLockdown()
		cleanup()
		os.Exit(suite.Done())
	}
	load("killswitch", "")
	load("test_killswitch", "")
	ownCode()          // F3
	contexts()         // F4, hunt: hardirq/softirq callers
	engagebpfHelper()  // F5
	engagebpfGuard()   // F6
	nonEntries()       // F7, F14
	ambiguous()        // F8
	longFilters()      // F9
	observeIsRoot()    // F9
	width()            // F10
	noreturn()         // F11
	forgedCallers()    // F12
	argWidth()         // F13
	indirectOverride() // F15
	ourCallees()       // hunt: everything the module calls
	unload("test_killswitch")
	initText() // F16
	opath()    // F2, last: it unloads the module under the descriptors
	cleanup()
	os.Exit(suite.Done())
}

// --- helpers ------------------------------------------------------------

func lockdownLevel() string {
	b, err := os.ReadFile("/sys/kernel/security/lockdown")
	if err != nil {
		return "none"
	}
	s := string(b)
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return "none"
}

func load(name, params string) {
	if kstest.Loaded(name) {
		return
	}
	if e := mods.Load(name, params); e != 0 {
		nok("load "+name, "finit_module: %s", kstest.ErrnoName(e))
		os.Exit(suite.Done())
	}
}

func unload(name string) {
	if !kstest.Loaded(name) {
		return
	}
	if e := mods.Unload(name); e != 0 {
		nok("unload "+name, "delete_module: %s", kstest.ErrnoName(e))
	}
}

func cleanup() {
	if kstest.Loaded("killswitch") {
		ctl("disengage_all")
	}
	unload("test_killswitch")
	unload("killswitch")
}

// ctl writes one control line and returns the errno name ("OK" on success).
func ctl(line string) string {
	e := kstest.Write(control, []byte(line))
	if e == 0 {
		return "OK"
	}
	return kstest.ErrnoName(e)
}

func engaged() string {
	s, _ := kstest.Read(ksfs.Dir + "/engaged")
	return s
}

func listed(sym string) bool {
	for _, l := range strings.Split(engaged(), "\n") {
		if strings.HasPrefix(l, sym+" ") {
			return true
		}
	}
	return false
}

// kmsgSince returns the kernel log lines written after mark was logged.
type kmsg struct{ mark string }

func markLog(what string) kmsg {
	m := fmt.Sprintf("ks-adversary: mark %d %s", time.Now().UnixNano(), what)
	_ = os.WriteFile("/dev/kmsg", []byte(m+"\n"), 0)
	return kmsg{m}
}

func (k kmsg) lines() []string {
	// Raw non-blocking reads: through os.File the poller would wait for
	// the next record instead of returning EAGAIN at the end.
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var out []string
	seen := false
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			if errors.Is(err, syscall.EPIPE) {
				continue // records overwritten before we read them
			}
			break
		}
		rec := string(buf[:n])
		if i := strings.IndexByte(rec, ';'); i >= 0 {
			rec = rec[i+1:]
		}
		rec = strings.TrimRight(rec, "\n")
		if strings.Contains(rec, k.mark) {
			seen = true
			continue
		}
		if seen {
			out = append(out, rec)
		}
	}
	return out
}

func (k kmsg) has(sub string) bool {
	for _, l := range k.lines() {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// expect: the control line gives want and leaves nothing engaged under sym.
func refused(what, line, sym string, want ...string) {
	got := ctl(line)
	for _, w := range want {
		if got == w {
			if listed(sym) {
				nok(what, "%q gave %s but %s is listed: %q", line, got, sym, engaged())
				ctl("disengage " + sym)
				return
			}
			ok("%s: %q refused with %s, nothing engaged", what, line, got)
			return
		}
	}
	if got == "OK" {
		ctl("disengage " + sym)
	}
	nok(what, "%q gave %s, want %s", line, got, strings.Join(want, " or "))
}

func kallsyms() []string {
	b, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		return nil
	}
	return strings.Split(string(b), "\n")
}

func testFile(name string) string { return "/sys/kernel/debug/test_killswitch/" + name }

// --- F1: engage= and guard= at load, under each lockdown level ------------

func modparamUnderLockdown() {
	unload("killswitch")
	// module_sig_check=0 would let root load unsigned code; guard=0 must not
	// open that door either. __ptrace_may_access=-1 is a reviewed catalog
	// pair (CVE-2026-46333), in the module's allowlist.
	m := markLog("F1")
	load("killswitch", "engage=module_sig_check=0,security_locked_down=0,__ptrace_may_access=-1 guard=0")
	bad := listed("module_sig_check") || listed("security_locked_down")
	allowed := listed("__ptrace_may_access")
	switch lockdown {
	case "integrity":
		if bad || !allowed {
			nok("F1: engage= under lockdown=integrity", "want only the allowlisted __ptrace_may_access, got %q", engaged())
		} else if !m.has("not in the reviewed allowlist") {
			nok("F1: engage= under lockdown=integrity", "no log line names the refusal")
		} else {
			ok("F1: under lockdown=integrity engage= took only the reviewed allowlist (module_sig_check=0 refused)")
		}
	case "confidentiality":
		if bad || allowed {
			nok("F1: engage= under lockdown=confidentiality", "want nothing, got %q", engaged())
		} else {
			ok("F1: under lockdown=confidentiality engage= engaged nothing")
		}
	default:
		// No lockdown: root is trusted, but the guard rails still cover
		// the integrity machinery however guard= is set? guard=0 is root's
		// explicit choice here, so only check the rails with guard on.
		ctl("disengage_all")
		unload("killswitch")
		load("killswitch", "engage=module_sig_check=0,security_locked_down=0,__ptrace_may_access=-1")
		if listed("module_sig_check") || listed("security_locked_down") || !listed("__ptrace_may_access") {
			nok("F1: engage= of the integrity machinery", "want only __ptrace_may_access, got %q", engaged())
		} else {
			ok("F1: the guard rails refuse module_sig_check and security_locked_down at load")
		}
	}
	ctl("disengage_all")
	unload("killswitch")
}

// Root under lockdown: no runtime change that skips kernel code, guard=0
// ignored, disengage still works.
func runtimeUnderLockdown() {
	mg := markLog("lockdown guard=0")
	load("killswitch", "guard=0")
	m := markLog("lockdown runtime")
	if lockdown == "integrity" {
		if got := ctl("observe __x64_sys_getppid"); got != "OK" && runtime.GOARCH == "amd64" {
			nok("F9: observe under lockdown=integrity", "got %s", got)
		} else if m.has("kgdb") {
			nok("F9: observe under lockdown=integrity", "the kernel logged a kgdb lockdown denial for an observe")
		} else {
			ok("F9: observe under lockdown=integrity works and logs no borrowed kgdb denial")
		}
		ctl("disengage_all")
	} else {
		ok("F9: observe under lockdown=confidentiality: not applicable (observe is refused there; 70-privilege checks it)")
	}
	for _, line := range []string{"engage cap_capable 0", "engage module_sig_check 0", "tryengage security_file_open 0 0"} {
		refused("lockdown: runtime "+strings.Fields(line)[0], line, strings.Fields(line)[1], "EPERM")
	}
	if !mg.has("guard=0") {
		nok("F1: guard=0 under lockdown", "no log line says guard=0 is ignored")
	} else {
		ok("F1: guard=0 under lockdown is ignored, and the log says so")
	}
	unload("killswitch")
}

// --- F3: killswitch's own code is never a target ---------------------------

func ownCode() {
	for _, sym := range []string{"ks_disengage_all", "ks_guard_check", "ks_exit", "ks_just_return", "ks_pre_handler", "ks_install", "ks_target_check"} {
		if !hasSym(sym, "killswitch") {
			ok("F3: %s is not in this build's kallsyms (inlined): nothing to refuse, nothing to engage", sym)
			continue
		}
		refused("F3: own code", "engage "+sym+" 0", sym, "EPERM", "EINVAL")
	}
	// Through the parameter too.
	ctl("disengage_all")
	unload("test_killswitch")
	unload("killswitch")
	load("killswitch", "engage=ks_guard_check=0,ks_disengage_all=0")
	if listed("ks_guard_check") || listed("ks_disengage_all") {
		nok("F3: own code through engage=", "listed: %q", engaged())
	} else {
		ok("F3: engage= refuses the module's own functions")
	}
	load("test_killswitch", "")
}

func hasSym(sym, mod string) bool {
	for _, l := range kallsyms() {
		f := strings.Fields(l)
		if len(f) >= 3 && f[2] == sym && (mod == "" || (len(f) >= 4 && f[3] == "["+mod+"]")) {
			return true
		}
	}
	return false
}

// --- F4: the handler takes no lock; callers only from task context --------

func contexts() {
	// run_timer_softirq runs in softirq context on every tick; under the
	// old handler lockdep reported {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} and
	// swapper showed up as a caller.
	sym := "run_timer_softirq"
	if got := ctl("observe " + sym); got != "OK" {
		nok("F4: observe "+sym, "got %s", got)
		return
	}
	time.Sleep(2 * time.Second)
	ctxs, _ := kstest.Read(kstest.FnFile(sym, "contexts"))
	callers, _ := kstest.Read(kstest.FnFile(sym, "callers"))
	ctl("disengage " + sym)
	softirq := field(ctxs, "softirq")
	switch {
	case softirq == 0:
		nok("F4: softirq calls counted apart", "contexts %q", strings.TrimSpace(ctxs))
	case strings.Contains(callers, "swapper"):
		nok("F4: callers only from task context", "swapper listed as a caller of %s: %q", sym, callers)
	default:
		ok("F4: %s counted in softirq (%s), no interrupted task recorded as its caller", sym, strings.TrimSpace(ctxs))
	}
}

func field(line, name string) int64 {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// --- F5: engagebpf's helper and a writer killed while it runs -------------

func engagebpfHelper() {
	if !bpfOverride() {
		if got := ctl("engagebpf ks_test_vuln /nonexistent.bpf.o"); got != "EOPNOTSUPP" && got != "ENOTSUP" {
			nok("F5: engagebpf without BPF override", "got %s, want EOPNOTSUPP", got)
			return
		}
		suite.Skip("F5: a writer killed during engagebpf", "this kernel lacks CONFIG_BPF_KPROBE_OVERRIDE; engagebpf refuses before any helper runs (EOPNOTSUPP)")
		return
	}
	// A writer killed while the helper runs: it returns only after the
	// helper is gone, and the gate is closed afterwards.
	cmd := exec.Command("/bin/sh", "-c", "echo 'engagebpf ks_test_vuln /nonexistent.bpf.o' > "+control)
	if err := cmd.Start(); err != nil {
		nok("F5: killed writer", "%v", err)
		return
	}
	time.Sleep(50 * time.Millisecond)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if gateOpen() {
		nok("F5: killed writer", "the gate on within_error_injection_list is still registered")
		return
	}
	ok("F5: a writer killed during engagebpf leaves no gate and no helper state behind")
}

func bpfOverride() bool {
	for _, p := range []string{"/proc/config.gz", "/boot/config-" + release()} {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "CONFIG_BPF_KPROBE_OVERRIDE=y") {
			return true
		}
	}
	got := ctl("engagebpf ks_test_vuln /nonexistent.bpf.o")
	note("engagebpf probe without a program: %s", got)
	return got != "EOPNOTSUPP" && got != "ENOTSUP"
}

func release() string {
	var u unix.Utsname
	_ = unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

func gateOpen() bool {
	b, _ := os.ReadFile("/sys/kernel/debug/kprobes/list")
	return strings.Contains(string(b), "within_error_injection_list")
}

// --- F6: engagebpf goes through the guard rails ----------------------------

func engagebpfGuard() {
	refused("F6: engagebpf on a security check", "engagebpf security_file_open /tmp/x.bpf.o", "security_file_open", "EACCES")
	refused("F6: engagebpf on a hazard", "engagebpf kfree /tmp/x.bpf.o", "kfree", "EACCES")
}

// --- F7, F14: only real function entries ------------------------------------

func nonEntries() {
	cold := ""
	for _, l := range kallsyms() {
		f := strings.Fields(l)
		if len(f) == 3 && (f[1] == "t" || f[1] == "T") && strings.HasSuffix(f[2], ".cold") {
			cold = f[2]
			break
		}
	}
	if cold == "" {
		// The name alone is refused, before any lookup: a kernel
		// without fragments still shows the rule.
		cold = "ks_test_vuln.cold"
	}
	{
		m := markLog("F7")
		got := ctl("engage " + cold + " -1")
		parent := strings.SplitN(strings.TrimSuffix(cold, ".cold"), ".", 2)[0]
		switch {
		case got == "OK":
			ctl("disengage " + cold)
			nok("F7: a .cold fragment", "engage %s -1 was accepted", cold)
		case got != "EINVAL" || listed(cold):
			nok("F7: a .cold fragment", "engage %s -1 gave %s", cold, got)
		case !m.has("fragment of " + parent):
			nok("F7: a .cold fragment", "refused, but no log line names the parent %s", parent)
		default:
			ok("F7: %s refused with EINVAL, and the log names its parent %s", cold, parent)
		}
	}
	if runtime.GOARCH == "amd64" {
		// Assembly: no ftrace site, and the value comes back in edx.
		refused("F14: __get_user_4 (assembly, odd return)", "engage __get_user_4 0", "__get_user_4", "EINVAL")
	} else {
		suite.Skip("F14: __get_user_4", "__get_user_N is x86's")
	}
}

// --- F8: a name several functions share -------------------------------------

func ambiguous() {
	m := markLog("F8")
	refused("F8: ambiguous name", "engage ks_test_dup -1", "ks_test_dup", "ENOTUNIQ")
	refused("F8: ambiguous within its module", "engage test_killswitch:ks_test_dup -1", "test_killswitch:ks_test_dup", "ENOTUNIQ")
	addr := symAddr("ks_test_dup")
	if addr == "" {
		nok("F8: qualified by address", "no address for ks_test_dup in /proc/kallsyms")
		return
	}
	sym := "ks_test_dup@0x" + addr
	if got := ctl("engage " + sym + " -1"); got != "OK" {
		nok("F8: qualified by address", "engage %s: %s", sym, got)
		return
	}
	ctl("disengage " + sym)
	if !m.has("the probe is at ks_test_dup+0x0") {
		nok("F8: the log names where the probe landed", "no 'the probe is at ks_test_dup+0x0' line")
		return
	}
	ok("F8: %s engages the one at that address, and the log says where", sym)
}

// symAddr is the first address /proc/kallsyms gives for a text symbol.
func symAddr(sym string) string {
	for _, l := range kallsyms() {
		f := strings.Fields(l)
		if len(f) >= 3 && f[2] == sym && strings.Trim(f[0], "0") != "" {
			return f[0]
		}
	}
	return ""
}

// --- F9: filters at their longest; observe is root's -----------------------

func longFilters() {
	var fs []string
	for i := 1; i <= 6; i++ {
		fs = append(fs, fmt.Sprintf("arg%d:32!=-2147483648", i))
	}
	fs[5] = "arg6!=-9223372036854775808"
	line := "engage ks_test_vuln -5 " + strings.Join(fs, " ")
	if got := ctl(line); got != "OK" {
		nok("F9: six long filters", "%q: %s", line, got)
		return
	}
	got, _ := kstest.Read(kstest.FnFile("ks_test_vuln", "filter"))
	ctl("disengage ks_test_vuln")
	if strings.TrimSpace(got) != strings.Join(fs, ",") {
		nok("F9: six long filters", "fn/filter reads %q, want %q", strings.TrimSpace(got), strings.Join(fs, ","))
		return
	}
	ok("F9: six filters at their longest read back whole")
}

func observeIsRoot() {
	ctl("observe ks_test_vuln")
	defer ctl("disengage ks_test_vuln")
	out, err := asNobody("cat " + ksfs.Dir + "/engaged; cat " + kstest.FnFile("ks_test_vuln", "hits") + " 2>&1; true")
	switch {
	case err != nil:
		nok("F9: observe is root's", "%v", err)
	case strings.Contains(out, "ks_test_vuln retval"):
		nok("F9: observe is root's", "a user sees the observation in engaged: %q", out)
	case !strings.Contains(out, "Permission denied"):
		nok("F9: observe is root's", "a user reads the observed function's hits: %q", out)
	default:
		ok("F9: a user sees neither the observation nor its counts")
	}
}

func asNobody(script string) (string, error) {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// --- F10: the guard judges the value at the width callers read -------------

func width() {
	refused("F10: int check, -2^32", "engage cap_capable -4294967296", "cap_capable", "EACCES")
	refused("F10: int check, LONG_MIN", "engage security_file_open -0x8000000000000000", "security_file_open", "EACCES")
	// The address form names the function too: no way around the rails.
	if addr := symAddr("security_file_open"); addr != "" {
		refused("guard: the address form", "engage security_file_open@0x"+addr+" 0", "security_file_open@0x"+addr, "EACCES")
	} else {
		nok("guard: the address form", "no address for security_file_open in /proc/kallsyms")
	}
	// The per-function retval file goes through the same judgement. The
	// uid filter keeps the fail-closed engagement off every real caller.
	if got := ctl("engage security_file_open -13 uid=4242"); got != "OK" {
		nok("F10: retval file", "engage security_file_open -13 uid=4242: %s", got)
		return
	}
	e := kstest.Write(kstest.FnFile("security_file_open", "retval"), []byte("-4294967296"))
	r, _ := kstest.Read(kstest.FnFile("security_file_open", "retval"))
	ctl("disengage security_file_open")
	if e != unix.EACCES || strings.TrimSpace(r) != "-13" {
		nok("F10: retval file, -2^32", "write gave %s, retval now %q", kstest.ErrnoName(e), strings.TrimSpace(r))
		return
	}
	ok("F10: the retval file refuses -4294967296 for an int security check (callers would read 0)")
}

// --- F11: noreturn -----------------------------------------------------------

func noreturn() {
	for _, sym := range []string{"do_exit", "kthread_exit", "make_task_dead", "panic"} {
		if !hasSym(sym, "") {
			suite.Skip("F11: noreturn "+sym, "%s is not in this kernel", sym)
			continue
		}
		refused("F11: noreturn", "engage "+sym+" 0", sym, "EINVAL")
	}
}

// --- F12: callers cannot be forged ------------------------------------------

func forgedCallers() {
	sym := getppidSym()
	if got := ctl("observe " + sym); got != "OK" {
		nok("F12: observe", "%s", got)
		return
	}
	defer ctl("disengage " + sym)
	// A user's process names itself like a caller line with uid 0 and calls.
	cmd := exec.Command("/proc/self/exe", "forge-child", "x 1 0\nsshd")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		nok("F12: forging process", "%v: %s", err, out)
		return
	}
	b, _ := kstest.Read(kstest.FnFile(sym, "callers"))
	var bad []string
	for _, l := range strings.Split(strings.TrimSpace(b), "\n") {
		if f := strings.Fields(l); len(f) != 3 || (f[2] == "0" && strings.HasPrefix(f[0], "sshd")) {
			bad = append(bad, l)
		}
	}
	if _, err := ksfs.ParseCallers(b); err != nil || len(bad) > 0 {
		nok("F12: callers cannot be forged", "callers %q: parse %v, bad lines %q", b, err, bad)
		return
	}
	ok("F12: a comm with spaces and newlines is recorded sanitised: %q", strings.TrimSpace(b))
}

// --- F13: argument filters compare all 64 bits by default -------------------

func argWidth() {
	for _, c := range []struct{ filter, want, why string }{
		{"arg1!=0", "7", "64 bits: 0x100000000 is not 0"},
		{"arg1:32!=0", "4294967296", "the low half of 0x100000000 is 0: the body runs"},
	} {
		got, r := triggerWith("engage ks_test_vuln 7 "+c.filter, "4294967296")
		if got != "OK" || r != c.want {
			nok("F13: "+c.filter+" on 0x100000000", "engage %s, result %q, want %s (%s)", got, r, c.want, c.why)
			return
		}
	}
	ok("F13: arg1!=0 overrides 0x100000000 (64 bits), arg1:32!=0 lets it through (low half 0)")
}

// triggerWith engages line, calls ks_test_vuln(arg), disengages, and
// returns the control write's result and what the call returned.
func triggerWith(line, arg string) (string, string) {
	got := ctl(line)
	if got != "OK" {
		return got, ""
	}
	_ = os.WriteFile(testFile("trigger"), []byte(arg), 0)
	r, _ := kstest.Read(testFile("result"))
	ctl("disengage ks_test_vuln")
	return got, strings.TrimSpace(r)
}

// --- F15: an override of a function reached by an indirect call ------------

func indirectOverride() {
	// The syscall table calls its entries indirectly: with BTI the old
	// arm64 stub faulted on the return.
	sym := getppidSym()
	if got := ctl("engage " + sym + " 4242"); got != "OK" {
		nok("F15: override of "+sym, "%s", got)
		return
	}
	r, _, _ := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	ctl("disengage " + sym)
	if r != 4242 {
		nok("F15: override of "+sym, "getppid returned %d", r)
		return
	}
	ok("F15: %s, reached through the syscall table, returns the override and comes back", sym)
}

func getppidSym() string {
	if runtime.GOARCH == "arm64" {
		return "__arm64_sys_getppid"
	}
	return "__x64_sys_getppid"
}

// splatWord: names the harness's kernel-log scan would take for a report.
var splatWord = regexp.MustCompile(`(?i)lockdep|kasan|kmemleak|ubsan|kfence|kcsan|bug|warn|panic|oops`)

// --- hunt: every function the module calls, observed while it works --------

func ourCallees() {
	f, err := elf.Open(filepath.Join(mods.Dir, "killswitch.ko"))
	if err != nil {
		nok("hunt: the module's callees", "%v", err)
		return
	}
	syms, _ := f.Symbols()
	f.Close()
	var tried, refusedN []string
	var bad []string
	start, budget := time.Now(), 90*time.Second
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF || elf.ST_TYPE(s.Info) == elf.STT_OBJECT || s.Name == "" {
			continue
		}
		// A refusal line names the symbol, and the harness fails a run
		// whose log says "lockdep", "kasan"...: on the debug kernel the
		// module imports such helpers. They are not ours to observe.
		if splatWord.MatchString(s.Name) {
			continue
		}
		if time.Since(start) > budget {
			note("hunt: stopped after %s (budget); the rest of the callees are untried", budget)
			break
		}
		if got := ctl("observe " + s.Name); got != "OK" {
			refusedN = append(refusedN, s.Name+":"+got)
			continue
		}
		tried = append(tried, s.Name)
		// The module at work while its callee is observed.
		if got := ctl("engage ks_test_vuln -5"); got != "OK" {
			bad = append(bad, s.Name+": engage "+got)
		}
		_, _ = kstest.Read(ksfs.Dir + "/engaged")
		_, _ = kstest.Read(kstest.FnFile("ks_test_vuln", "callers"))
		if got := ctl("disengage ks_test_vuln"); got != "OK" {
			bad = append(bad, s.Name+": disengage "+got)
		}
		if got := ctl("disengage " + s.Name); got != "OK" {
			bad = append(bad, s.Name+": disengage callee "+got)
		}
	}
	note("hunt: observed %d of the module's callees while it worked; refused %d: %s", len(tried), len(refusedN), strings.Join(refusedN, " "))
	if len(bad) > 0 || len(tried) == 0 {
		nok("hunt: the module works while its callees are observed", "%q (tried %d)", bad, len(tried))
		return
	}
	ok("hunt: %d callees of the module observed while it engaged and disengaged: no failure, no report", len(tried))
}

// --- F16: a probe on a module's init text -----------------------------------

func initText() {
	m := markLog("F16")
	done := make(chan unix.Errno, 1)
	go func() { done <- mods.Load("test_killswitch", "init_wait_ms=1500") }()
	sym := "test_killswitch:ks_test_init_probe"
	var got string
	for i := 0; i < 50; i++ {
		time.Sleep(50 * time.Millisecond)
		if got = ctl("engage " + sym + " 0"); got == "OK" {
			break
		}
	}
	e := <-done
	switch {
	case e != 0:
		nok("F16: init text", "loading test_killswitch: %s", kstest.ErrnoName(e))
	case got != "OK":
		// kprobes refuse init text once the module is live; whichever
		// came first, nothing may be listed.
		if listed(sym) {
			nok("F16: init text", "refused with %s but listed", got)
		} else {
			ok("F16: a probe on init text was refused (%s), nothing listed", got)
		}
	case listed(sym):
		nok("F16: init text", "%s still listed after the module went live: %q", sym, engaged())
	case !m.has("freed the init code"):
		nok("F16: init text", "dropped without the 'mitigation lost' line")
	default:
		ok("F16: the engagement on init text was dropped with a log line when the module went live")
	}
	unload("test_killswitch")
}

// --- F2: descriptors kept across disengage and unload -----------------------

// opath: a local user keeps O_PATH descriptors of every kind of file, and
// a descriptor passed over a socket; root disengages, then unloads; the
// user reopens each through /proc/self/fd. Before the fix the reopen after
// rmmod ran do_dentry_open on freed module text.
func opath() {
	load("test_killswitch", "")
	if got := ctl("engage ks_test_vuln -5"); got != "OK" {
		nok("F2: engage", "%s", got)
		return
	}
	paths := []string{control, ksfs.Dir + "/engaged", ksfs.Dir + "/taint", ksfs.Dir + "/fn",
		kstest.FnFile("ks_test_vuln", "hits"), kstest.FnFile("ks_test_vuln", "retval"), kstest.FnFile("ks_test_vuln", "state")}
	cmd := exec.Command("/proc/self/exe", append([]string{"opath-child"}, paths...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		nok("F2: child", "%v", err)
		return
	}
	rd := bufio.NewScanner(stdout)
	step := func(what string) string {
		fmt.Fprintln(stdin, what)
		if !rd.Scan() {
			return "child gone"
		}
		return rd.Text()
	}
	if r := step("open"); r != "opened" {
		nok("F2: O_PATH opens as a user", "%s", r)
		return
	}
	ctl("disengage ks_test_vuln")
	r1 := step("reopen")
	unload("test_killswitch")
	unload("killswitch")
	r2 := step("reopen")
	_ = stdin.Close()
	_ = cmd.Wait()
	// Reopening must fail cleanly (or, for the directory, give a dead
	// directory); what matters most is that the kernel is still here.
	if strings.Contains(r2, "child gone") || strings.Contains(r1, "child gone") {
		nok("F2: reopen after disengage and rmmod", "after disengage %q, after rmmod %q", r1, r2)
		return
	}
	for _, part := range strings.Fields(r2) {
		if strings.Contains(part, "=OK") && !strings.HasPrefix(part, "fn=") {
			nok("F2: reopen after rmmod", "a file of the unloaded module reopened: %s", r2)
			return
		}
	}
	ok("F2: O_PATH descriptors reopened after disengage (%s) and after rmmod (%s): refused, no oops", r1, r2)
}

// opathChild holds O_PATH descriptors and reopens them on request: "open",
// then "reopen" any number of times; one line of results per request.
func opathChild() int {
	paths := os.Args[2:]
	var fds []int
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "open":
			for _, p := range paths {
				fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
				if err != nil {
					fmt.Printf("open %s: %v\n", p, err)
					return 1
				}
				fds = append(fds, fd)
			}
			// One of them also crosses a socket, as an fd passed to
			// another process would.
			if sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0); err == nil {
				_ = unix.Sendmsg(sp[0], []byte{0}, unix.UnixRights(fds[1]), nil, 0)
				buf, oob := make([]byte, 1), make([]byte, 64)
				if _, oobn, _, _, err := unix.Recvmsg(sp[1], buf, oob, 0); err == nil {
					if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 {
						if got, err := unix.ParseUnixRights(&msgs[0]); err == nil {
							fds = append(fds, got...)
							paths = append(paths, paths[1]+"(passed)")
						}
					}
				}
			}
			fmt.Println("opened")
		case "reopen":
			var out []string
			for i, fd := range fds {
				nfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				res := "OK"
				if err != nil {
					res = kstest.ErrnoName(kstest.Errno(err))
				} else {
					buf := make([]byte, 64)
					if _, err := unix.Read(nfd, buf); err != nil {
						res = "OK,read:" + kstest.ErrnoName(kstest.Errno(err))
					}
					unix.Close(nfd)
				}
				out = append(out, filepath.Base(paths[i])+"="+res)
			}
			fmt.Println(strings.Join(out, " "))
		}
	}
	return 0
}
