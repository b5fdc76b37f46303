// Command 70-privilege is the privilege and exposure sweep of the
// module's interface (issue 8, item 4). With killswitch and
// test_killswitch loaded and entries in every state the lockdown level
// allows (engaged from engage= at load, engaged with a filter, probing,
// observing a syscall that another user calls), it checks:
//
//   - tree: every file and directory under /sys/kernel/security/killswitch
//     (and the module's parameters) against the mode table of
//     kernel/ks_fs.c, owner 0:0; a file the table lacks fails until
//     someone reviews it and adds it here;
//   - matrix: every mutating path (each control verb, a malformed line,
//     each retval file) as non-root (EACCES), as root without
//     CAP_SYS_ADMIN (EPERM), as root in a new user namespace (EPERM: the
//     capability counts only in the initial namespace), through a
//     descriptor root opened (EPERM), and opened without the capability
//     but written with it (EPERM); the listing must not change; reads
//     are allowed exactly as the modes say;
//   - lockdown: with the level the kernel booted with, every change but
//     disengage (and observe under integrity, which only counts) is
//     refused with EPERM and changes nothing, reads work; under none
//     root's changes all work;
//   - addresses: no kernel address in any file an identity can read, nor
//     in a kernel log line the modules printed during the run.
//
// It never raises lockdown (99-lockdown does, last). Sub-commands
// "child" and "nocap" are how it runs under the other identities.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"github.com/killswitch/killswitch/internal/ksfs"

	"github.com/killswitch/killswitch/internal/vmtest/tap"
)

const (
	control   = ksfs.Dir + "/control"
	debugDir  = "/sys/kernel/debug/test_killswitch"
	paramsDir = "/sys/module/killswitch/parameters"
	lockdownF = "/sys/kernel/security/lockdown"
	// What the refused writes would engage: nothing else touches it.
	freeSym = "ks_test_ptr"
	noBPF   = "/ks/no-such-program.bpf.o"
)

// The result lines (test/vm/README.md).
var (
	suite         = tap.New("70-privilege", "privilege")
	ok, nok, note = suite.Ok, suite.Nok, suite.Note
)

// check passes when err is nil.
func check(what string, err error) bool {
	if err != nil {
		nok(what, "%v", err)
		return false
	}
	ok("%s", what)
	return true
}

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "child":
			err = childMain()
		case "nocap":
			err = nocapMain(os.Args[2:])
		default:
			err = fmt.Errorf("unknown sub-command %q (child, nocap)", os.Args[1])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "70-privilege:", err)
			os.Exit(1)
		}
		return
	}
	s := &sweep{}
	s.run()
	os.Exit(suite.Done())
}

// sweep holds what the checks share.
type sweep struct {
	level    ksfs.Lockdown
	mark     string
	loaded   []string // modules this run loaded, to unload at the end
	syscall  string   // the observed syscall wrapper
	readable map[string]string
}

func (s *sweep) run() {
	fmt.Printf("# kernel %s label=%s arch=%s\n", uname(), os.Getenv("KS_KERNEL"), os.Getenv("KS_ARCH"))
	b, err := os.ReadFile(lockdownF)
	if err == nil {
		s.level, err = ksfs.ParseLockdown(string(b))
	}
	if err != nil {
		nok("setup", "lockdown level: %v (the sweep needs the lockdown LSM to know what to expect)", err)
		return
	}
	note("lockdown: %s", s.level)
	s.syscall = map[string]string{"amd64": "__x64_sys_getppid", "arm64": "__arm64_sys_getppid"}[runtime.GOARCH]
	s.readable = map[string]string{}
	// The plan depends on what setup engaged, and setup reports results
	// of its own: hold them until the plan is out.
	var held []func()
	okNow, nokNow := ok, nok
	ok = func(f string, a ...any) { held = append(held, func() { okNow(f, a...) }) }
	nok = func(w, f string, a ...any) { held = append(held, func() { nokNow(w, f, a...) }) }
	err = s.setup()
	ok, nok = okNow, nokNow
	if err != nil {
		suite.Plan(len(held) + 1)
		for _, r := range held {
			r()
		}
		nok("setup", "%v", err)
		s.cleanup()
		return
	}
	suite.Plan(len(held) + s.planned())
	for _, r := range held {
		r()
	}
	s.tree()
	s.callers()
	s.matrix()
	s.lockdown()
	s.addresses()
	s.cleanup()
}

// planned is how many results the sweep reports after setup when every
// check passes (a failing check may report more or fewer; the run fails
// then anyway). Keep it next to the functions it counts.
func (s *sweep) planned() int {
	syms := len(s.fnSyms())
	muts := 8 + syms // mutations(): 8 control writes, a retval write per engaged symbol
	inherited := 8   // the control writes, and the first symbol's retval
	if syms > 0 {
		inherited++
	}
	n := 1 // tree
	if s.level != ksfs.LockdownConfidentiality {
		n++ // callers
	}
	// matrix: per identity the child, its writes and one for the reads;
	// inherited per identity; openedWithoutCap; the listing.
	n += 3*(1+muts+1) + 3*(1+inherited) + (1 + muts) + 1
	// lockdown: at none three allowed verbs, the retval writes, engagebpf;
	// else every mutation but the disengages and the malformed line, the
	// reads, the logged refusals. Then disengage and disengage_all.
	if s.level == ksfs.LockdownNone {
		n += 3 + syms + 1
	} else {
		n += muts - 3 + 2
	}
	n += 2
	return n + 2 // addresses: files and log lines
}

func uname() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return "?"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

func loadedModule(name string) bool {
	b, _ := os.ReadFile("/proc/modules")
	return strings.Contains("\n"+string(b), "\n"+name+" ")
}

func modprobe(args ...string) error {
	out, err := exec.Command("modprobe", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("modprobe %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setup loads the modules (killswitch with engage=, which lockdown may
// refuse) and makes entries in every state the level allows, each with
// its callers recorded.
// The modparam entry: engaged at load wherever lockdown allows it. Under
// lockdown engage= takes only the reviewed allowlist built into the module
// (kernel/ks_allowlist.h): Copy Fail's af_alg_sendmsg=-1, in the af_alg
// module, which nothing in the sweep uses.
var modSym, modRetval = "ks_test_vuln", "-5"

func (s *sweep) setup() error {
	if s.level != ksfs.LockdownNone {
		modSym, modRetval = "af_alg_sendmsg", "-1"
		if !loadedModule("af_alg") {
			if err := modprobe("af_alg"); err != nil {
				return err
			}
			s.loaded = append(s.loaded, "af_alg")
		}
	}
	s.mark = fmt.Sprintf("ks-privilege: mark %d", os.Getpid())
	if err := os.WriteFile("/dev/kmsg", []byte(s.mark+"\n"), 0); err != nil {
		return fmt.Errorf("writing a mark to /dev/kmsg: %w", err)
	}
	if !loadedModule("test_killswitch") {
		if err := modprobe("test_killswitch"); err != nil {
			return err
		}
		s.loaded = append(s.loaded, "test_killswitch")
	}
	if loadedModule("killswitch") {
		note("killswitch was loaded already: using it as it is")
	} else {
		if err := modprobe("killswitch", "engage="+modSym+"="+modRetval); err != nil {
			return err
		}
		s.loaded = append(s.loaded, "killswitch")
	}
	engs := s.engagements()
	mod, have := engs[modSym]
	switch {
	case s.level == ksfs.LockdownConfidentiality:
		if have {
			nok("engage= at load refused under confidentiality", "%s is engaged: %+v", modSym, mod)
		} else {
			ok("engage= at load refused under confidentiality: %s not engaged", modSym)
		}
		if contains(s.loaded, "killswitch") {
			s.logged("engage= refusal is logged", "engage="+modSym+"="+modRetval+" refused: kernel is locked down for confidentiality")
		}
	case have && mod.State == ksfs.StateEngaged && fmt.Sprint(mod.Retval) == modRetval:
		ok("engage= at load works under lockdown %s: %s retval=%d", s.level, modSym, mod.Retval)
	case !have && s.level == ksfs.LockdownNone && !contains(s.loaded, "killswitch"):
		// Someone else loaded the module: engage it now.
		if err := writeFile(control, "engage "+modSym+" "+modRetval+"\n"); err != nil {
			return fmt.Errorf("engage %s: %s", modSym, errName(err))
		}
	default:
		nok("engage= at load works under lockdown "+string(s.level), "%s: %+v (have=%v)", modSym, mod, have)
	}

	var cmds []string
	switch s.level {
	case ksfs.LockdownNone:
		cmds = []string{"engage ks_test_bool 0 uid!=4242", "tryengage ks_test_void 0 600", "observe " + s.syscall}
	case ksfs.LockdownIntegrity:
		cmds = []string{"observe ks_test_bool", "observe " + s.syscall}
	}
	for _, cmd := range cmds {
		if err := writeFile(control, cmd+"\n"); err != nil {
			return fmt.Errorf("%s: %s", cmd, errName(err))
		}
	}
	// Callers: root through test_killswitch, nobody through getppid.
	if _, err := os.ReadFile(debugDir + "/call"); err != nil {
		return fmt.Errorf("calling the test targets through %s/call: %w", debugDir, err)
	}
	if _, err := runAs(asNonroot, []op{{Kind: "getppid"}}); err != nil {
		return err
	}
	return nil
}

// logged: some module log line since the mark contains want.
func (s *sweep) logged(what, want string) {
	for _, l := range s.kmsgSince() {
		if strings.Contains(l, want) {
			ok("%s", what)
			return
		}
	}
	nok(what, "no kernel log line contains %q", want)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// engagements is the listing by symbol; a listing that does not parse
// is a failure of its own.
func (s *sweep) engagements() map[string]ksfs.Engagement {
	out := map[string]ksfs.Engagement{}
	engs, err := ksfs.ParseEngaged(listing())
	if err != nil {
		nok("engaged parses", "%v", err)
		return out
	}
	for _, e := range engs {
		out[e.Symbol] = e
	}
	return out
}

// stable is the listing without its counters: what a refused write must
// leave as it was (an observed syscall's hits move on their own).
func stable(l string) string {
	engs, err := ksfs.ParseEngaged(l)
	if err != nil {
		return "unparsable listing: " + l
	}
	var lines []string
	for _, e := range engs {
		// An observation is root's business: `engaged` lists it only
		// to CAP_SYS_ADMIN, so compare what every identity sees.
		if e.State == "observing" {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s retval=%d state=%s filter=%s", e.Symbol, e.Retval, e.State, e.Filter))
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

func (s *sweep) fnSyms() []string {
	ents, _ := os.ReadDir(ksfs.Dir + "/fn")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func (s *sweep) cleanup() {
	if err := writeFile(control, "disengage_all\n"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		nok("cleanup", "disengage_all: %s", errName(err))
	}
	for i := len(s.loaded) - 1; i >= 0; i-- {
		if out, err := exec.Command("rmmod", s.loaded[i]).CombinedOutput(); err != nil {
			nok("cleanup", "rmmod %s: %v: %s", s.loaded[i], err, strings.TrimSpace(string(out)))
		}
	}
}

// --- tree: modes and owners -------------------------------------------------

// modes is kernel/ks_fs.c's table (and the module's parameters), by path
// under the module's directory; fn/* is any engaged symbol. Anything not
// here fails the sweep: a new file is reviewed and added.
var modes = map[string]fs.FileMode{
	".":                 fs.ModeDir | 0o755,
	"fn":                fs.ModeDir | 0o755,
	"control":           0o200,
	"engaged":           0o444,
	"taint":             0o444,
	"fn/*":              fs.ModeDir | 0o755,
	"fn/*/retval":       0o600,
	"fn/*/hits":         0o444,
	"fn/*/passed":       0o444,
	"fn/*/missed":       0o444,
	"fn/*/state":        0o444,
	"fn/*/timeout_left": 0o444,
	"fn/*/filter":       0o444,
	"fn/*/since":        0o444,
	"fn/*/contexts":     0o444,
	// Who called, with pid and uid: other users' activity.
	"fn/*/callers": 0o400,
}

// observedDir: an observed function's directory is root's alone, since
// counting another user's calls of any function is root's business
// (kernel/ks_fs.c); it turns 0755 when the function is engaged.
const observedDir = fs.ModeDir | 0o700

// observing reports whether fn/<sym> (rel) is an observation.
func observing(rel string) bool {
	dir, sym := path.Split(rel)
	if dir != "fn/" {
		return false
	}
	b, err := os.ReadFile(ksfs.Dir + "/fn/" + sym + "/state")
	return err == nil && strings.TrimSpace(string(b)) == "observing"
}

var paramModes = map[string]fs.FileMode{
	".":      fs.ModeDir | 0o755,
	"engage": 0o400, // may name the CVE functions engaged at boot
	"guard":  0o444,
}

func lookupMode(table map[string]fs.FileMode, rel string) (fs.FileMode, bool) {
	for pat, m := range table {
		if ok, _ := path.Match(pat, rel); ok {
			return m, true
		}
	}
	return 0, false
}

func (s *sweep) tree() {
	seen := map[string]bool{}
	n := 0
	walk := func(root string, table map[string]fs.FileMode) {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			n++
			got := info.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			want, known := lookupMode(table, rel)
			if known && root == ksfs.Dir && observing(rel) {
				want = observedDir
			}
			switch {
			case !known:
				nok("tree: "+p, "not in the sweep's table (mode %v): review who may read or write it and add it to test/vm/suites/70-privilege", got)
			case got != want || st.Uid != 0 || st.Gid != 0:
				nok("tree: "+p, "mode %v owner %d:%d, want %v owner 0:0", got, st.Uid, st.Gid, want)
			default:
				if pat, _ := patternOf(table, rel); pat != "" {
					seen[root+":"+pat] = true
				}
			}
			if info.Mode().IsRegular() && info.Mode()&0o444 != 0 {
				b, err := os.ReadFile(p)
				if err != nil {
					nok("tree: root reads "+p, "%s", errName(err))
				} else {
					s.readable["root: "+p] = string(b)
				}
			}
			return nil
		})
		if err != nil {
			nok("tree: walking "+root, "%v", err)
		}
	}
	walk(ksfs.Dir, modes)
	walk(paramsDir, paramModes)
	// Every kind of file must have been there to be checked.
	var missing []string
	for pat := range modes {
		if strings.HasPrefix(pat, "fn/*") && len(s.fnSyms()) == 0 {
			continue // nothing engaged (confidentiality): no per-function files
		}
		if !seen[ksfs.Dir+":"+pat] {
			missing = append(missing, pat)
		}
	}
	for pat := range paramModes {
		if !seen[paramsDir+":"+pat] {
			missing = append(missing, paramsDir+"/"+pat)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		nok("tree: every expected file exists", "missing or wrong: %s", strings.Join(missing, ", "))
	} else {
		ok("tree: %d files and directories, modes and owners as kernel/ks_fs.c says (%d engaged symbols)", n, len(s.fnSyms()))
	}
	if len(s.fnSyms()) == 0 && s.level != ksfs.LockdownConfidentiality {
		nok("tree: per-function files", "nothing engaged under lockdown %s: the setup failed", s.level)
	}
}

func patternOf(table map[string]fs.FileMode, rel string) (string, bool) {
	for pat := range table {
		if ok, _ := path.Match(pat, rel); ok {
			return pat, true
		}
	}
	return "", false
}

// --- matrix: every mutating path as each identity ---------------------------

type mutation struct {
	name, path, data string
}

// mutations are the writes that would change something if they got
// through: freeSym is not engaged, the others are.
func (s *sweep) mutations() []mutation {
	syms := s.fnSyms()
	dis := modSym
	if len(syms) > 0 {
		dis = syms[0]
	}
	m := []mutation{
		{"engage", control, "engage " + freeSym + " 0\n"},
		{"engage with a filter", control, "engage " + freeSym + " 0 uid!=0\n"},
		{"tryengage", control, "tryengage " + freeSym + " 0 30\n"},
		{"observe", control, "observe " + freeSym + "\n"},
		{"engagebpf", control, "engagebpf " + freeSym + " " + noBPF + "\n"},
		{"disengage", control, "disengage " + dis + "\n"},
		{"disengage_all", control, "disengage_all\n"},
		{"a malformed line", control, "bogus\n"},
	}
	for _, sym := range syms {
		m = append(m, mutation{"retval of " + sym, ksfs.Dir + "/fn/" + sym + "/retval", "-7\n"})
	}
	return m
}

// readTargets is every file with a read bit and every directory.
func readTargets() (files map[string]fs.FileMode, dirs []string) {
	files = map[string]fs.FileMode{}
	for _, root := range []string{ksfs.Dir, paramsDir} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				dirs = append(dirs, p)
				return nil
			}
			if info, err := d.Info(); err == nil && info.Mode()&0o444 != 0 {
				mode := info.Mode().Perm()
				// Under a 0700 directory only its owner gets in.
				if parent, err := os.Stat(filepath.Dir(p)); err == nil && parent.Mode()&0o001 == 0 {
					mode &^= 0o077
				}
				files[p] = mode
			}
			return nil
		})
	}
	return files, dirs
}

func (s *sweep) matrix() {
	muts := s.mutations()
	files, dirs := readTargets()
	before := stable(listing())
	want := map[identity]string{asNonroot: "EACCES", asNocap: "EPERM", asUserns: "EPERM"}
	for _, id := range []identity{asNonroot, asNocap, asUserns} {
		var ops []op
		for _, m := range muts {
			ops = append(ops, op{Kind: "write", Path: m.path, Data: m.data})
		}
		var rpaths []string
		for p := range files {
			rpaths = append(rpaths, p)
		}
		sort.Strings(rpaths)
		for _, p := range rpaths {
			ops = append(ops, op{Kind: "read", Path: p})
		}
		for _, d := range dirs {
			ops = append(ops, op{Kind: "readdir", Path: d})
		}
		rep, err := runAs(id, ops)
		if !check(string(id)+": child runs with that identity", err) {
			continue
		}
		for i, m := range muts {
			s.expectRefused(fmt.Sprintf("%s: %s", id, m.name), want[id], rep.Results[i], before)
		}
		readOK, readBad := 0, []string{}
		for j, p := range rpaths {
			r := rep.Results[len(muts)+j]
			allowed := files[p]&0o004 != 0 // other bits
			if id != asNonroot {
				allowed = files[p]&0o400 != 0 // owner bits: uid 0 owns them
			}
			switch {
			case allowed && r.Err == "":
				readOK++
				if id == asNonroot {
					s.readable["non-root: "+p] = r.Data
				}
			case !allowed && r.Err == "EACCES":
				readOK++
			default:
				readBad = append(readBad, fmt.Sprintf("%s (mode %o): got %q", p, files[p], or(r.Err, "read")))
			}
		}
		for j, d := range dirs {
			r := rep.Results[len(muts)+len(rpaths)+j]
			if st, err := os.Stat(d); err == nil && st.Mode()&0o005 == 0 && id == asNonroot && r.Err == "EACCES" {
				readOK++ // an observed function's 0700 directory
				continue
			}
			if r.Err != "" {
				readBad = append(readBad, fmt.Sprintf("list %s: %s", d, r.Err))
			} else {
				readOK++
			}
		}
		if len(readBad) > 0 {
			nok(string(id)+": reads as the modes say", "%s", strings.Join(readBad, "; "))
		} else {
			ok("%s: %d reads as the modes say", id, readOK)
		}
	}
	s.inherited(muts, before)
	s.openedWithoutCap(muts, before)
	if after := stable(listing()); after != before {
		nok("matrix: listing unchanged", "before %q, after %q", before, after)
	} else {
		ok("matrix: listing unchanged after every refused write")
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// expectRefused: the write failed with want and the listing did not move.
func (s *sweep) expectRefused(what, want string, r result, before string) {
	switch {
	case r.Err != want:
		nok(what, "got %q, want %s", or(r.Err, "success"), want)
	case stable(r.Listing) != before:
		nok(what, "refused with %s but the listing changed: %q -> %q", want, before, stable(r.Listing))
	default:
		ok("%s refused with %s, listing unchanged", what, want)
	}
}

// inherited: root opens control and a retval file and hands the
// descriptors to children without the capability. The module checks
// the writer, so each write is EPERM (the non-root child gets past the
// mode: it did not open the file).
func (s *sweep) inherited(muts []mutation, before string) {
	ctl, err := os.OpenFile(control, os.O_WRONLY, 0)
	if err != nil {
		nok("inherited descriptors", "root opening %s: %v", control, err)
		return
	}
	defer ctl.Close()
	files := []*os.File{ctl}
	var retval string
	if syms := s.fnSyms(); len(syms) > 0 {
		retval = ksfs.Dir + "/fn/" + syms[0] + "/retval"
		f, err := os.OpenFile(retval, os.O_WRONLY, 0)
		if err != nil {
			nok("inherited descriptors", "root opening %s: %v", retval, err)
			return
		}
		defer f.Close()
		files = append(files, f)
	}
	var ops []op
	var names []string
	for _, m := range muts {
		switch m.path {
		case control:
			ops = append(ops, op{Kind: "writefd", FD: 3, Data: m.data})
		case retval:
			ops = append(ops, op{Kind: "writefd", FD: 4, Data: m.data})
		default:
			continue
		}
		names = append(names, m.name)
	}
	for _, id := range []identity{asNonroot, asNocap, asUserns} {
		rep, err := runAs(id, ops, files...)
		if !check(string(id)+": child with root's descriptors runs", err) {
			continue
		}
		for i, name := range names {
			s.expectRefused(fmt.Sprintf("%s, descriptor opened by root: %s", id, name), "EPERM", rep.Results[i], before)
		}
	}
}

// openedWithoutCap: opened with CAP_SYS_ADMIN out of the effective set,
// written with it back: the opener's credentials count too.
func (s *sweep) openedWithoutCap(muts []mutation, before string) {
	var ops []op
	for _, m := range muts {
		ops = append(ops, op{Kind: "capwrite", Path: m.path, Data: m.data})
	}
	rep, err := runAs(asRoot, ops)
	if !check("root child for opened-without-CAP_SYS_ADMIN writes runs", err) {
		return
	}
	for i, m := range muts {
		s.expectRefused("opened without CAP_SYS_ADMIN, written with it: "+m.name, "EPERM", rep.Results[i], before)
	}
}
