package ksfs_test

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/ksfs/ksfstest"
)

func newFake(t *testing.T) (*ksfstest.Module, *ksfs.Client) {
	t.Helper()
	m, err := ksfstest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return m, ksfs.New(m)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEngageStatusDisengage(t *testing.T) {
	m, c := newFake(t)
	if !c.Loaded() {
		t.Fatal("fake module not loaded")
	}
	if taint, err := c.Taint(); err != nil || !taint {
		t.Fatalf("Taint() = %v, %v", taint, err)
	}

	must(t, c.Engage("af_alg_sendmsg", -1))
	must(t, c.Engage("__sys_socket", -97, ksfs.Filter{Arg: 1, Value: 38}))
	must(t, c.Observe("ksmbd_smb2_negotiate"))

	if over, v, _ := m.Call("af_alg_sendmsg", "cat", 10, 1000); !over || v != -1 {
		t.Fatalf("call not overridden: %v %d", over, v)
	}
	m.Call("__sys_socket", "curl", 11, 1000, 2)     // AF_INET passes
	m.Call("__sys_socket", "exploit", 12, 1000, 38) // AF_ALG overridden
	m.Call("ksmbd_smb2_negotiate", "smbclient", 13, 0)
	must(t, m.Miss("af_alg_sendmsg"))

	list, err := c.Engagements()
	must(t, err)
	if len(list) != 3 {
		t.Fatalf("Engagements() = %+v", list)
	}
	short, err := c.EngagedList()
	must(t, err)
	if len(short) != 3 || short[1].Symbol != "__sys_socket" || short[1].Filter != "arg1=38" || short[2].State != ksfs.StateObserving {
		t.Fatalf("EngagedList() = %+v", short)
	}
	alg, sock, smb := list[0], list[1], list[2]
	if alg.Symbol != "af_alg_sendmsg" || alg.Retval != -1 || alg.Hits != 1 || alg.Missed != 1 || alg.State != ksfs.StateEngaged {
		t.Errorf("af_alg_sendmsg: %+v", alg)
	}
	if sock.Hits != 1 || sock.Passed != 1 || sock.Filter != "arg1=38" || sock.Since != 100*time.Second {
		t.Errorf("__sys_socket: %+v", sock)
	}
	if smb.State != ksfs.StateObserving || smb.Hits != 1 {
		t.Errorf("observed: %+v", smb)
	}
	callers, err := c.Callers("ksmbd_smb2_negotiate")
	must(t, err)
	if len(callers) != 1 || callers[0] != (ksfs.Caller{Comm: "smbclient", PID: 13, UID: 0}) {
		t.Errorf("Callers() = %+v", callers)
	}

	// Engaging an observed symbol converts it in place.
	must(t, c.Engage("ksmbd_smb2_negotiate", -22))
	if e, err := c.Engagement("ksmbd_smb2_negotiate"); err != nil || e.State != ksfs.StateEngaged || e.Retval != -22 {
		t.Errorf("converted: %+v, %v", e, err)
	}

	must(t, c.SetRetval("af_alg_sendmsg", -95))
	if e, _ := c.Engagement("af_alg_sendmsg"); e.Retval != -95 {
		t.Errorf("SetRetval did not take: %+v", e)
	}

	gone, err := c.Disengage("af_alg_sendmsg")
	must(t, err)
	if len(gone) != 1 || gone[0].Hits != 1 {
		t.Errorf("Disengage returned %+v", gone)
	}
	if _, err := c.Engagement("af_alg_sendmsg"); !errors.Is(err, ksfs.ErrNotEngaged) {
		t.Errorf("Engagement after disengage: %v", err)
	}
	gone, err = c.DisengageAll()
	must(t, err)
	if len(gone) != 2 {
		t.Errorf("DisengageAll returned %+v", gone)
	}
	if list, _ := c.Engagements(); len(list) != 0 {
		t.Errorf("left after DisengageAll: %+v", list)
	}
}

func TestTryEngage(t *testing.T) {
	m, c := newFake(t)
	must(t, c.TryEngage("idle_fn", -1, 10*time.Second))
	must(t, c.TryEngage("busy_fn", -1, 10*time.Second))
	must(t, m.Advance(4*time.Second))
	e, err := c.Engagement("idle_fn")
	must(t, err)
	if e.State != ksfs.StateProbing || e.TimeoutLeft != 6*time.Second {
		t.Fatalf("probing: %+v", e)
	}
	m.Call("busy_fn", "cron", 1, 0)
	must(t, m.Advance(6*time.Second))
	if e, err := c.Engagement("idle_fn"); err != nil || e.State != ksfs.StateEngaged {
		t.Errorf("idle_fn not committed: %+v %v", e, err)
	}
	if _, err := c.Engagement("busy_fn"); !errors.Is(err, ksfs.ErrNotEngaged) {
		t.Errorf("busy_fn not aborted: %v", err)
	}
}

func TestErrors(t *testing.T) {
	m, c := newFake(t)
	m.SetSymbols("af_alg_sendmsg", "security_file_open", "kprobe_blacklisted")
	m.SetBlacklist("kprobe_blacklisted")
	m.SetGuard(func(sym string, v int64) bool { return strings.HasPrefix(sym, "security_") && v >= 0 })
	must(t, c.Engage("af_alg_sendmsg", -1))

	check := func(name string, err error, kind error, errno syscall.Errno, text string) {
		t.Helper()
		var ce *ksfs.CommandError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v is not a *CommandError", name, err)
		}
		if !errors.Is(err, kind) || !errors.Is(err, errno) {
			t.Errorf("%s: %v: want %v and %v", name, err, kind, errno)
		}
		if !strings.Contains(err.Error(), text) {
			t.Errorf("%s: %q does not say %q", name, err, text)
		}
	}
	check("busy", c.Engage("af_alg_sendmsg", -1), ksfs.ErrAlreadyEngaged, syscall.EBUSY, "already engaged")
	check("unknown", c.Engage("no_such_fn", -1), ksfs.ErrUnknownSymbol, syscall.ENOENT, "killswitch check no_such_fn")
	check("blacklist", c.Engage("kprobe_blacklisted", -1), ksfs.ErrProbeRefused, syscall.EINVAL, "blacklisted")
	check("guard", c.Engage("security_file_open", 0), ksfs.ErrGuarded, syscall.EACCES, "guard=0")
	_, err := c.Disengage("no_such_fn")
	check("not engaged", err, ksfs.ErrNotEngaged, syscall.ENOENT, "not engaged")
	check("retval of not engaged", c.SetRetval("no_such_fn", 1), ksfs.ErrNotEngaged, syscall.ENOENT, "not engaged")
	check("local validation", c.Engage("bad name", -1), ksfs.ErrMalformed, syscall.EINVAL, "bad name")

	must(t, m.SetLockdown(ksfs.LockdownIntegrity))
	err = c.Engage("security_file_open", -1)
	check("lockdown", err, ksfs.ErrLockdown, syscall.EPERM, "lockdown=integrity")
	var ce *ksfs.CommandError
	if errors.As(err, &ce) && (len(ce.KernelLog) != 1 || !strings.Contains(ce.KernelLog[0], "locked down")) {
		t.Errorf("kernel log not captured: %q", ce.KernelLog)
	}
	must(t, m.SetLockdown(ksfs.LockdownConfidentiality))
	check("lockdown", c.Engage("security_file_open", -1), ksfs.ErrLockdown, syscall.EPERM, "confidentiality")
	if _, err := c.Disengage("af_alg_sendmsg"); err != nil {
		t.Errorf("disengage under lockdown: %v", err)
	}
	must(t, m.SetLockdown(ksfs.LockdownNone))

	m.SetPrivileged(false)
	check("caps", c.Engage("af_alg_sendmsg", -1), ksfs.ErrNotPermitted, syscall.EPERM, "CAP_SYS_ADMIN")
	m.SetPrivileged(true)

	must(t, m.Unload())
	check("unloaded", c.Engage("af_alg_sendmsg", -1), ksfs.ErrModuleNotLoaded, syscall.ENOENT, "modprobe killswitch")
	if list, err := c.Engagements(); err != nil || len(list) != 0 {
		t.Errorf("Engagements() without module = %v, %v", list, err)
	}
}

func TestEngageBPF(t *testing.T) {
	m, c := newFake(t)
	obj := "/tmp/cve.bpf.o"
	if err := os.MkdirAll(m.Path("/tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(m.Path(obj), []byte("ELF"), 0o644))

	err := c.EngageBPF("af_alg_sendmsg", "/tmp/missing.bpf.o")
	if !errors.Is(err, ksfs.ErrHelperFailed) || !strings.Contains(err.Error(), "ks-bpf-load: af_alg_sendmsg: load /tmp/missing.bpf.o") {
		t.Fatalf("helper failure: %v", err)
	}

	var ce *ksfs.CommandError
	if !errors.As(err, &ce) || len(ce.KernelLog) != 2 || ce.Fix != "" {
		t.Errorf("helper failure carries the kernel log: %+v", ce)
	}

	must(t, c.EngageBPF("af_alg_sendmsg", obj))
	must(t, c.Engage("esp_input", -22))
	list, err := c.Engagements()
	must(t, err)
	if len(list) != 2 || list[1].BPFPin != ksfs.BPFDir+"/af_alg_sendmsg" {
		t.Fatalf("Engagements() = %+v", list)
	}
	if e, err := c.Engagement("af_alg_sendmsg"); err != nil || e.BPFPin == "" {
		t.Errorf("Engagement(bpf) = %+v, %v", e, err)
	}

	// The gate is refused while an operator engaged it.
	must(t, c.Engage("within_error_injection_list", 1))
	if err := c.EngageBPF("esp6_input", obj); !errors.Is(err, syscall.EBUSY) || !strings.Contains(err.Error(), "within_error_injection_list") {
		t.Errorf("gate busy: %v", err)
	}
	_, err = c.Disengage("within_error_injection_list")
	must(t, err)

	gone, err := c.Disengage("af_alg_sendmsg")
	must(t, err)
	if len(gone) != 1 || gone[0].BPFPin == "" {
		t.Errorf("Disengage(bpf) = %+v", gone)
	}
	if _, err := os.Stat(m.Path(ksfs.BPFDir + "/af_alg_sendmsg")); !os.IsNotExist(err) {
		t.Error("pin not removed")
	}

	// A pin outlives the module; disengage still removes it.
	must(t, c.EngageBPF("af_alg_sendmsg", obj))
	must(t, m.Unload())
	if list, _ := c.Engagements(); len(list) != 1 {
		t.Errorf("pins without module: %+v", list)
	}
	if _, err := c.Disengage("af_alg_sendmsg"); err != nil {
		t.Errorf("disengage pin without module: %v", err)
	}
	if _, err := c.DisengageAll(); !errors.Is(err, ksfs.ErrModuleNotLoaded) {
		t.Errorf("DisengageAll with nothing: %v", err)
	}
}

func TestMissingOptionalFiles(t *testing.T) {
	m, c := newFake(t)
	must(t, c.Engage("f", -1))
	// A module with only the seed's files.
	for _, name := range []string{"passed", "missed", "since", "filter", "callers", "state", "timeout_left"} {
		must(t, os.Remove(m.Path(ksfs.Dir+"/fn/f/"+name)))
	}
	e, err := c.Engagement("f")
	if err != nil || e.State != ksfs.StateEngaged || e.Retval != -1 {
		t.Fatalf("Engagement() = %+v, %v", e, err)
	}
	if callers, err := c.Callers("f"); err != nil || callers != nil {
		t.Errorf("Callers() = %v, %v", callers, err)
	}
	must(t, os.WriteFile(m.Path(ksfs.Dir+"/fn/f/hits"), []byte("lots\n"), 0o644))
	if _, err := c.Engagement("f"); err == nil || !strings.Contains(err.Error(), "f/hits") {
		t.Errorf("bad hits file: %v", err)
	}
}

// racingFS runs hook before a read, to make the module change under a
// reader the way a tryengage window ending does.
type racingFS struct {
	*ksfstest.Module
	hook func(name string)
}

func (r racingFS) ReadFile(name string) ([]byte, error) {
	r.hook(name)
	return r.Module.ReadFile(name)
}

// A window that aborts while Engagement reads the entry's files must not
// read as committed (the files' defaults say engaged): the CLI printed
// "committed" for an aborted tryengage on arm64 this way.
func TestEngagementEntryGoneMidRead(t *testing.T) {
	m, _ := newFake(t)
	must(t, m.Load(""))
	done := false
	c := ksfs.New(racingFS{m, func(name string) {
		if !done && strings.HasSuffix(name, "/busy_fn/retval") {
			done = true
			must(t, m.Advance(10*time.Second)) // called: the window aborts
		}
	}})
	must(t, c.TryEngage("busy_fn", -1, 10*time.Second))
	m.Call("busy_fn", "cron", 1, 0)
	e, err := c.Engagement("busy_fn")
	if !done {
		t.Fatal("the hook never ran: the test no longer races anything")
	}
	if !errors.Is(err, ksfs.ErrNotEngaged) {
		t.Errorf("Engagement of an entry removed mid-read = %+v, %v; want ErrNotEngaged", e, err)
	}
}
