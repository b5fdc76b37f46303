package ksfstest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/ksfs"
)

// Module is a fake killswitch module rooted at a directory that stands for
// the host's /. It implements hostfs.FS.
type Module struct {
	hostfs.Dir

	mu       sync.Mutex
	loaded   bool
	entries  []*entry
	seq      uint64
	uptime   time.Duration
	symbols  map[string]bool
	blocked  map[string]bool
	guard    func(sym string, retval int64) bool
	denied   bool
	lockdown ksfs.Lockdown
	helper   func(sym, object string) error
}

type entry struct {
	sym     string
	state   ksfs.State
	retval  int64
	filters []ksfs.Filter
	hits    uint64
	passed  uint64
	missed  uint64
	since   time.Duration
	left    time.Duration
	probe   time.Duration
	callers []ksfs.Caller
}

// New loads a fake module under root (usually t.TempDir()): securityfs
// tree, lockdown none, an empty kernel log.
func New(root string) (*Module, error) {
	m := &Module{Dir: hostfs.Dir(root), lockdown: ksfs.LockdownNone, uptime: 100 * time.Second}
	for _, d := range []string{"/dev", "/sys/kernel/security", "/sys/fs/bpf"} {
		if err := os.MkdirAll(m.Path(d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(m.Path(ksfs.KernelLogFile), nil, 0o644); err != nil {
		return nil, err
	}
	if err := m.SetLockdown(ksfs.LockdownNone); err != nil {
		return nil, err
	}
	return m, m.Load("")
}

// Load loads the module (if unloaded) and applies an engage= parameter,
// "fn1=v1,fn2=v2", like ks_modparam.c: bad entries are logged and skipped.
func (m *Module) Load(engage string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loaded = true
	for _, item := range strings.Split(engage, ",") {
		if item == "" {
			continue
		}
		// The last '=' splits, as in ks_modparam.c.
		i := strings.LastIndexByte(item, '=')
		if i < 0 {
			m.logf("engage= entry '%s' skipped: expected <symbol>=<retval>", item)
			continue
		}
		sym := item[:i]
		retval, err := ksfs.ParseRetval(item[i+1:])
		if err != nil || ksfs.ValidateSymbol(sym) != nil {
			m.logf("engage=: skipping bad entry %q", item)
			continue
		}
		if errno := m.install(ksfs.Engage(sym, retval), " source=modparam"); errno != 0 {
			m.logf("engage=%s: %v", item, errno)
		}
	}
	return m.render()
}

// Unload removes every engagement and the securityfs tree, like rmmod.
func (m *Module) Unload() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		m.logf("disengage %s retval=%d hits=%d state=%s uid=0", e.sym, e.retval, e.hits, e.state)
	}
	m.entries, m.loaded = nil, false
	return m.render()
}

// SetSymbols restricts the kernel's symbols; engaging another one fails
// with ENOENT as register_kprobe does. nil means every valid name exists.
func (m *Module) SetSymbols(syms ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.symbols = make(map[string]bool)
	for _, s := range syms {
		m.symbols[s] = true
	}
}

// SetBlacklist makes register_kprobe refuse these symbols with EINVAL.
func (m *Module) SetBlacklist(syms ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocked = make(map[string]bool)
	for _, s := range syms {
		m.blocked[s] = true
	}
}

// SetGuard installs the guard rail: refuse(sym, retval) true means EACCES.
func (m *Module) SetGuard(refuse func(sym string, retval int64) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.guard = refuse
}

// SetPrivileged false makes every change fail with EPERM, as for a caller
// without CAP_SYS_ADMIN.
func (m *Module) SetPrivileged(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.denied = !ok
}

// SetLockdown sets the lockdown level and its securityfs file.
func (m *Module) SetLockdown(l ksfs.Lockdown) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lockdown = l
	var parts []string
	for _, lv := range []ksfs.Lockdown{ksfs.LockdownNone, ksfs.LockdownIntegrity, ksfs.LockdownConfidentiality} {
		if lv == l {
			parts = append(parts, "["+string(lv)+"]")
		} else {
			parts = append(parts, string(lv))
		}
	}
	return os.WriteFile(m.Path(ksfs.LockdownFile), []byte(strings.Join(parts, " ")+"\n"), 0o644)
}

// SetHelper replaces ks-bpf-load. The default pins the object if it exists
// under the root, and fails like the helper otherwise.
func (m *Module) SetHelper(run func(sym, object string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.helper = run
}

// Log appends a line to the fake kernel log.
func (m *Module) Log(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rawLog(fmt.Sprintf(format, args...))
}

// Call simulates one call of sym by a task with this uid and arguments.
// It reports whether the override applied, and the value returned then.
func (m *Module) Call(sym, comm string, pid int, uid uint32, args ...int64) (overridden bool, retval int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.lookup(sym)
	if e == nil {
		return false, 0, nil
	}
	for _, f := range e.filters {
		v := int64(uid)
		if f.Arg > 0 {
			v = 0
			if f.Arg <= len(args) {
				v = args[f.Arg-1]
			}
		}
		if (v == f.Value) == f.Negate {
			e.passed++
			return false, 0, m.render()
		}
	}
	e.hits++
	if e.state != ksfs.StateEngaged {
		c := ksfs.Caller{Comm: comm, PID: pid, UID: uid}
		if !slices.Contains(e.callers, c) {
			e.callers = append(e.callers, c)
			if len(e.callers) > 16 {
				e.callers = e.callers[1:]
			}
		}
		return false, 0, m.render()
	}
	return true, e.retval, m.render()
}

// Miss counts a call where the probe could not run.
func (m *Module) Miss(sym string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.lookup(sym); e != nil {
		e.missed++
	}
	return m.render()
}

// Advance moves time on: tryengage windows count down and, when they end,
// commit or abort like ks_probe_expired.
func (m *Module) Advance(d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uptime += d
	for _, e := range slices.Clone(m.entries) {
		if e.state != ksfs.StateProbing {
			continue
		}
		e.left -= d
		if e.left > 0 {
			continue
		}
		e.left = 0
		if e.hits == 0 {
			e.state = ksfs.StateEngaged
			m.logf("tryengage %s committed retval=%d T=%d uid=0", e.sym, e.retval, e.probe/time.Second)
			continue
		}
		m.remove(e)
		m.logf("tryengage %s aborted: hits=%d retval=%d T=%d uid=0", e.sym, e.hits, e.retval, e.probe/time.Second)
	}
	return m.render()
}

// WriteFile implements hostfs.FS: writes to control and fn/<sym>/retval
// are interpreted; everything else goes to the directory.
func (m *Module) WriteFile(name string, data []byte) error {
	name = filepath.ToSlash(filepath.Clean(name))
	switch {
	case name == ksfs.Dir+"/control":
		return m.control(name, string(data))
	case strings.HasPrefix(name, ksfs.Dir+"/fn/") && strings.HasSuffix(name, "/retval"):
		sym := strings.TrimSuffix(strings.TrimPrefix(name, ksfs.Dir+"/fn/"), "/retval")
		return m.writeRetval(name, sym, string(data))
	}
	return m.Dir.WriteFile(name, data)
}

func (m *Module) control(name, line string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.loaded {
		return &fs.PathError{Op: "open", Path: m.Path(name), Err: syscall.ENOENT}
	}
	fail := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "write", Path: m.Path(name), Err: errno}
	}
	if m.denied {
		return fail(syscall.EPERM)
	}
	cmd, err := ksfs.ParseCommand(line)
	if err != nil {
		return fail(syscall.EINVAL)
	}

	var errno syscall.Errno
	switch cmd.Verb {
	case ksfs.VerbDisengage:
		e := m.lookup(cmd.Symbol)
		if e == nil {
			return fail(syscall.ENOENT)
		}
		m.remove(e)
		m.logf("disengage %s retval=%d hits=%d missed=%d state=%s uid=0", e.sym, e.retval, e.hits, e.missed, e.state)
	case ksfs.VerbDisengageAll:
		for _, e := range m.entries {
			m.logf("disengage %s retval=%d hits=%d missed=%d state=%s uid=0", e.sym, e.retval, e.hits, e.missed, e.state)
		}
		m.entries = nil
	case ksfs.VerbEngageBPF:
		if errno = m.mayChange(cmd); errno == 0 {
			errno = m.engageBPF(cmd)
		}
	case ksfs.VerbObserve:
		if errno = m.mayChange(cmd); errno == 0 {
			errno = m.install(cmd, "")
		}
	default:
		if errno = m.mayChange(cmd); errno != 0 {
			break
		}
		if m.guard != nil && m.guard(cmd.Symbol, cmd.Retval) {
			m.logf("engage %s refused: guard rail (retval=%d would fail open) uid=0", cmd.Symbol, cmd.Retval)
			errno = syscall.EACCES
			break
		}
		errno = m.install(cmd, "")
	}
	if errno != 0 {
		return fail(errno)
	}
	return m.render()
}

func (m *Module) mayChange(cmd ksfs.Command) syscall.Errno {
	if m.lockdown.AllowsRuntime() {
		return 0
	}
	m.logf("%s %s refused: kernel is locked down uid=0", cmd.Verb, cmd.Symbol)
	return syscall.EPERM
}

func (m *Module) install(cmd ksfs.Command, source string) syscall.Errno {
	if e := m.lookup(cmd.Symbol); e != nil {
		if cmd.Verb == ksfs.VerbEngage && e.state == ksfs.StateObserving {
			e.state, e.retval, e.filters, e.callers = ksfs.StateEngaged, cmd.Retval, cmd.Filters, nil
			m.logf("engage %s retval=%d from observe hits=%d uid=0", e.sym, e.retval, e.hits)
			return 0
		}
		m.logf("engage %s refused: already %s uid=0", cmd.Symbol, e.state)
		return syscall.EBUSY
	}
	switch {
	case m.symbols != nil && !m.symbols[cmd.Symbol]:
		m.logf("engage %s refused: register_kprobe: -2 (no such symbol (is its module loaded?)) uid=0", cmd.Symbol)
		return syscall.ENOENT
	case m.blocked[cmd.Symbol]:
		m.logf("engage %s refused: register_kprobe: -22 (not probeable) uid=0", cmd.Symbol)
		return syscall.EINVAL
	}
	e := &entry{sym: cmd.Symbol, state: ksfs.StateEngaged, retval: cmd.Retval, filters: cmd.Filters, since: m.uptime}
	switch {
	case cmd.Verb == ksfs.VerbObserve:
		e.state = ksfs.StateObserving
		m.logf("observe %s uid=0", e.sym)
	case cmd.Verb == ksfs.VerbTryEngage && cmd.Probe > 0:
		e.state, e.left, e.probe = ksfs.StateProbing, cmd.Probe, cmd.Probe
		m.logf("tryengage %s probing retval=%d T=%d uid=0", e.sym, e.retval, cmd.Probe/time.Second)
	default:
		m.logf("engage %s retval=%d uid=0%s", e.sym, e.retval, source)
	}
	m.entries = append(m.entries, e)
	return 0
}

func (m *Module) engageBPF(cmd ksfs.Command) syscall.Errno {
	if m.lookup("within_error_injection_list") != nil {
		return syscall.EBUSY
	}
	run := m.helper
	if run == nil {
		run = m.defaultHelper
	}
	if err := run(cmd.Symbol, cmd.Object); err != nil {
		m.rawLog("ks-bpf-load: " + cmd.Symbol + ": " + err.Error())
		m.logf("engagebpf %s failed: /usr/sbin/ks-bpf-load returned 256 (its reason is logged above by ks-bpf-load) uid=0", cmd.Symbol)
		return syscall.EIO
	}
	m.logf("engagebpf %s %s uid=0", cmd.Symbol, cmd.Object)
	return 0
}

func (m *Module) defaultHelper(sym, object string) error {
	if _, err := os.Stat(m.Path(object)); err != nil {
		return fmt.Errorf("load %s: %w", object, errors.Unwrap(err))
	}
	pin := m.Path(ksfs.BPFDir + "/" + sym)
	if err := os.MkdirAll(filepath.Dir(pin), 0o755); err != nil {
		return err
	}
	return os.WriteFile(pin, nil, 0o600)
}

func (m *Module) writeRetval(name, sym, data string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.lookup(sym)
	if !m.loaded || e == nil {
		return &fs.PathError{Op: "open", Path: m.Path(name), Err: syscall.ENOENT}
	}
	fail := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "write", Path: m.Path(name), Err: errno}
	}
	if m.denied {
		return fail(syscall.EPERM)
	}
	if errno := m.mayChange(ksfs.Command{Verb: "retval", Symbol: sym}); errno != 0 {
		return fail(errno)
	}
	v, err := ksfs.ParseRetval(strings.TrimSuffix(data, "\n"))
	if err != nil {
		return fail(syscall.EINVAL)
	}
	if m.guard != nil && m.guard(sym, v) {
		return fail(syscall.EACCES)
	}
	m.logf("retval %s %d -> %d uid=0", sym, e.retval, v)
	e.retval = v
	return m.render()
}

func (m *Module) lookup(sym string) *entry {
	for _, e := range m.entries {
		if e.sym == sym {
			return e
		}
	}
	return nil
}

func (m *Module) remove(e *entry) {
	m.entries = slices.DeleteFunc(m.entries, func(x *entry) bool { return x == e })
}

func (m *Module) logf(format string, args ...any) {
	m.rawLog("killswitch: " + fmt.Sprintf(format, args...))
}

func (m *Module) rawLog(msg string) {
	m.seq++
	line := fmt.Sprintf("4,%d,%d,-;%s\n", m.seq, m.uptime/time.Microsecond, msg)
	f, err := os.OpenFile(m.Path(ksfs.KernelLogFile), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(line)
}

// render writes the securityfs tree from the state.
func (m *Module) render() error {
	root := m.Path(ksfs.Dir)
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	if !m.loaded {
		return nil
	}
	files := map[string]string{"control": "", "taint": "1\n"}
	var engaged strings.Builder
	for _, e := range m.entries {
		filter := ksfs.FormatFilters(e.filters)
		// As ks_engaged_show in kernel/ks_fs.c.
		fmt.Fprintf(&engaged, "%s retval=%d hits=%d", e.sym, e.retval, e.hits)
		if filter != "" {
			fmt.Fprintf(&engaged, " filter=%s passed=%d", filter, e.passed)
		}
		if e.state != ksfs.StateEngaged {
			fmt.Fprintf(&engaged, " state=%s", e.state)
		}
		engaged.WriteString("\n")

		var callers strings.Builder
		for _, c := range e.callers {
			fmt.Fprintf(&callers, "%s %d %d\n", c.Comm, c.PID, c.UID)
		}
		dir := "fn/" + e.sym + "/"
		files[dir+"retval"] = strconv.FormatInt(e.retval, 10) + "\n"
		files[dir+"hits"] = strconv.FormatUint(e.hits, 10) + "\n"
		files[dir+"passed"] = strconv.FormatUint(e.passed, 10) + "\n"
		files[dir+"missed"] = strconv.FormatUint(e.missed, 10) + "\n"
		files[dir+"state"] = string(e.state) + "\n"
		files[dir+"timeout_left"] = strconv.FormatInt(int64(e.left/time.Second), 10) + "\n"
		files[dir+"since"] = strconv.FormatInt(int64(e.since/time.Second), 10) + "\n"
		files[dir+"filter"] = filter + "\n"
		files[dir+"callers"] = callers.String()
	}
	files["engaged"] = engaged.String()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
