package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/ksfs/ksfstest"
	"github.com/killswitch/killswitch/internal/preflight/preflighttest"
)

// harness runs commands against the fake module on the fixture host.
type harness struct {
	t         *testing.T
	root      string
	m         *ksfstest.Module
	env       Env
	modprobed []string
	// onSleep runs at each poll of a tryengage countdown.
	onSleep func(d time.Duration) error
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, root: t.TempDir()}
	if err := preflighttest.Write(h.root); err != nil {
		t.Fatal(err)
	}
	m, err := ksfstest.New(h.root)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	h.onSleep = m.Advance
	h.env = Env{
		FS:    m,
		Now:   func() time.Time { return time.Date(2026, 5, 18, 3, 0, 0, 0, time.UTC) },
		Sleep: func(_ context.Context, d time.Duration) error { return h.onSleep(d) },
		User:  func() string { return "alice via sudo as root (uid 0)" },
		Modprobe: func(_ context.Context, mod string) error {
			h.modprobed = append(h.modprobed, mod)
			return os.MkdirAll(filepath.Join(h.root, "sys/module", mod), 0o755)
		},
	}
	return h
}

func (h *harness) run(args ...string) (int, string, string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	env := h.env
	env.Stdout, env.Stderr = &out, &errb
	code := Main(context.Background(), args, env)
	return code, out.String(), errb.String()
}

// expect runs a command and checks its exit code and that stdout+stderr
// say each of the strings.
func (h *harness) expect(code int, says []string, args ...string) string {
	h.t.Helper()
	got, out, errs := h.run(args...)
	all := out + errs
	if got != code {
		h.t.Errorf("killswitch %s: exit %d, want %d\n%s", strings.Join(args, " "), got, code, all)
	}
	for _, s := range says {
		if !strings.Contains(all, s) {
			h.t.Errorf("killswitch %s does not say %q:\n%s", strings.Join(args, " "), s, all)
		}
	}
	return out
}

func TestEngageAndStatus(t *testing.T) {
	h := newHarness(t)
	h.expect(ExitOK, []string{"engaged security_file_open: returns -1 (EPERM)"}, "engage", "security_file_open", "-1")
	h.expect(ExitOK, []string{"engaged __sys_socket: returns -97 (EAFNOSUPPORT) when arg1:32=38"}, "engage", "__sys_socket", "-97", "arg1=38")
	h.expect(ExitWarn, []string{"warning: engage filp_open: filp_open returns a pointer: 0 makes it return NULL", "engaged filp_open"}, "engage", "filp_open", "0")
	h.m.Call("__sys_socket", "curl", 7, 1000, 2)
	h.m.Call("__sys_socket", "exploit", 8, 1000, 38)

	out := h.expect(ExitOK, []string{"module: loaded, taint=1, lockdown=none", "SYMBOL", "__sys_socket", "-97 (EAFNOSUPPORT)", "arg1:32=38", "5m0s ago"}, "status")
	if !strings.Contains(out, "security_file_open") || strings.Count(out, "\n") != 5 {
		t.Errorf("status table:\n%s", out)
	}

	out = h.expect(ExitOK, nil, "status", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if !st.ModuleLoaded || !st.Taint || st.Lockdown != "none" || len(st.Engagements) != 3 {
		t.Fatalf("status --json: %+v", st)
	}
	sock := st.Engagements[1]
	if sock.Symbol != "__sys_socket" || sock.Retval != -97 || sock.Errno != "EAFNOSUPPORT" || sock.Hits != 1 || sock.Passed != 1 ||
		sock.Filter != "arg1:32=38" || sock.State != "engaged" || sock.Mechanism != "kprobe" || sock.SinceBootSeconds != 100 {
		t.Errorf("status --json engagement: %+v", sock)
	}

	h.expect(ExitOK, []string{"symbol  __sys_socket", "filter  arg1:32=38", "passed  1"}, "status", "__sys_socket")
	h.expect(ExitRefused, []string{"engage security_file_open: already engaged"}, "engage", "security_file_open", "-1")
	h.expect(ExitOK, []string{"security_file_open now returns -13 (EACCES)"}, "set-retval", "security_file_open", "-13")
	h.expect(ExitOK, []string{"disengaged __sys_socket (was engaged, retval -97 (EAFNOSUPPORT), hits=1, missed=0)"}, "disengage", "__sys_socket")
	h.expect(ExitOK, []string{"disengaged security_file_open", "disengaged filp_open"}, "disengage-all")
	h.expect(ExitOK, []string{"nothing engaged"}, "status")
	h.expect(ExitRefused, []string{"disengage __sys_socket: not engaged (killswitch status lists what is)"}, "disengage", "__sys_socket")
}

func TestPreflightRefusals(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		args []string
		code int
		says []string
	}{
		{[]string{"engage", "put_unused_fd", "-1"}, ExitRefused, []string{
			"killswitch: engage put_unused_fd: put_unused_fd returns void", "refused by pre-flight: nothing was changed; --force overrides"}},
		{[]string{"engage", "put_unused_fd", "-1", "--force"}, ExitWarn, []string{"--force", "engaged put_unused_fd"}},
		{[]string{"engage", "notify_die", "-1", "--force"}, ExitRefused, []string{"notify_die is on the kprobe blacklist", "nothing was changed"}},
		{[]string{"engage", "security_file_open", "0"}, ExitRefused, []string{"would make a security check pass"}},
		{[]string{"engage", "kmalloc_trace", "0", "--no-check"}, ExitOK, []string{"engaged kmalloc_trace"}}, // the fake has no guard
		{[]string{"engage", "af_alg_sendmsg", "-1"}, ExitRefused, []string{
			"engage af_alg_sendmsg: symbol is in module af_alg, which is not loaded (modprobe af_alg, or pass --load)"}},
		{[]string{"engage", "no_such_fn", "-1"}, ExitRefused, []string{"no function no_such_fn in kallsyms"}},
		{[]string{"engage", "dup_fn", "-1"}, ExitRefused, []string{"2 functions are named dup_fn", "dup_fn@0x<address>", "nothing was changed"}},
		{[]string{"engage", "dup_fn@0xffffffff812a0000", "-1"}, ExitOK, []string{"engaged dup_fn@0xffffffff812a0000"}},
		{[]string{"engage", "dup_fn@0xffffffff81000000", "-1"}, ExitRefused, []string{"no function named dup_fn is at 0xffffffff81000000"}},
		{[]string{"engage", "__x64_sys_socket", "-97", "arg1=38"}, ExitRefused, []string{"syscall wrapper"}},
		{[]string{"engage", "f", "x"}, ExitError, []string{`"x" is not a number`}},
		{[]string{"engage", "f", "-1", "gid=0"}, ExitError, []string{`"gid" is not uid or arg1..arg6`}},
		{[]string{"engage", "f"}, ExitError, []string{"wrong number of arguments", "usage: killswitch engage <symbol> <retval> [filter...]"}},
		{[]string{"engage", "--bogus", "f", "-1"}, ExitError, []string{"unknown flag: --bogus"}},
		{[]string{"tryengage", "f", "-1", "99999"}, ExitError, []string{"must be within 0..86400"}},
	} {
		h.expect(tc.code, tc.says, tc.args...)
	}
}

func TestLoad(t *testing.T) {
	h := newHarness(t)
	// The fake kallsyms does not change when the module loads, so the
	// re-check still misses the symbol: what matters is the modprobe.
	h.run("engage", "af_alg_sendmsg", "-1", "--load")
	if len(h.modprobed) != 1 || h.modprobed[0] != "af_alg" {
		t.Errorf("modprobe calls: %v", h.modprobed)
	}
}

func TestTryEngage(t *testing.T) {
	h := newHarness(t)
	out := h.expect(ExitOK, []string{
		"probing security_file_open for 3s: it returns -1 (EPERM) if nothing calls it",
		"probing security_file_open: 3s left, hits=0",
		"tryengage security_file_open committed: no calls during the probe; it now returns -1 (EPERM)",
	}, "tryengage", "security_file_open", "-1", "3")
	if strings.Contains(out, "\r") {
		t.Errorf("countdown redraws on a non-terminal:\n%q", out)
	}

	// A caller during the window aborts it.
	h.onSleep = func(d time.Duration) error {
		h.m.Call("filp_open", "cron", 42, 0)
		return h.m.Advance(d)
	}
	h.expect(ExitRefused, []string{"probing filp_open: 5s left, hits=0", "probing filp_open: 4s left, hits=1",
		"tryengage filp_open aborted: it was called during the probe (hits=4 at the last look)"},
		"tryengage", "filp_open", "-22", "5s")

	// Terminal: one redrawn line.
	h.onSleep = h.m.Advance
	h.env.Terminal = true
	out = h.expect(ExitOK, []string{"committed"}, "tryengage", "__sys_socket", "-97", "2", "arg1=38")
	if !strings.Contains(out, "\r\033[Kprobing __sys_socket: 2s left, hits=0") {
		t.Errorf("no live countdown:\n%q", out)
	}
	h.env.Terminal = false

	// Interrupted: the probe stays.
	h.onSleep = func(time.Duration) error { return context.Canceled }
	h.expect(ExitWarn, []string{"stopped waiting: the probe of xfrm4_udp_encap_rcv goes on in the kernel"}, "tryengage", "xfrm4_udp_encap_rcv", "-22", "60")
	h.expect(ExitOK, []string{"probing", "1m0s"}, "status")
	h.expect(ExitOK, []string{"the module decides in 1m0s"}, "tryengage", "strange_fn", "-1", "60", "--no-wait")
	h.expect(ExitOK, []string{"engaged ks_test_vuln: returns -1 (EPERM)"}, "tryengage", "ks_test_vuln", "-1", "0")
}

func TestObserve(t *testing.T) {
	h := newHarness(t)
	h.expect(ExitOK, []string{"observing security_file_open"}, "observe", "security_file_open")
	h.m.Call("security_file_open", "Web Content", 4242, 1000)
	h.expect(ExitOK, []string{"state   observing", "hits    1", "recent callers:", "Web Content  4242  1000"}, "status", "security_file_open")
	out := h.expect(ExitOK, nil, "status", "security_file_open", "--json")
	var e engagementJSON
	if err := json.Unmarshal([]byte(out), &e); err != nil || len(e.Callers) != 1 || e.Callers[0].Comm != "Web Content" {
		t.Errorf("status --json callers: %+v %v", e, err)
	}
	h.expect(ExitOK, []string{"engaged security_file_open"}, "engage", "security_file_open", "-1")
}

func TestKernelRefusals(t *testing.T) {
	h := newHarness(t)
	if err := h.m.SetLockdown(ksfs.LockdownIntegrity); err != nil {
		t.Fatal(err)
	}
	// Pre-flight sees the lockdown first; without it the kernel refuses.
	h.expect(ExitRefused, []string{"the kernel is locked down (integrity)"}, "engage", "security_file_open", "-1")
	h.expect(ExitRefused, []string{"engage security_file_open: refused: the kernel is locked down (integrity)",
		"kernel log: killswitch: engage security_file_open refused: kernel is locked down"}, "engage", "security_file_open", "-1", "--no-check")
	if err := h.m.SetLockdown(ksfs.LockdownNone); err != nil {
		t.Fatal(err)
	}
	h.m.SetGuard(func(sym string, v int64) bool { return sym == "strange_fn" })
	h.expect(ExitRefused, []string{"refused by the module's guard rail", "guard=0"}, "engage", "strange_fn", "-1")

	if err := h.m.Unload(); err != nil {
		t.Fatal(err)
	}
	h.expect(ExitError, []string{"killswitch module not loaded", "modprobe killswitch"}, "engage", "security_file_open", "-1")
	h.expect(ExitOK, []string{"module: not loaded"}, "status")
	h.expect(ExitError, []string{"killswitch module not loaded"}, "save", "--file", filepath.Join(t.TempDir(), "ks.conf"))
}

func TestEngageBPF(t *testing.T) {
	h := newHarness(t)
	obj := filepath.Join(h.root, "cve.bpf.o")
	// The fake resolves the object under its root, the CLI on the real
	// filesystem: make both see it at the same path.
	if err := os.MkdirAll(filepath.Dir(h.m.Path(obj)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.m.Path(obj), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.expect(ExitError, []string{"BPF object"}, "engagebpf", "af_alg_sendmsg", "/nonexistent.bpf.o")
	h.m.SetHelper(func(sym, object string) error { return errors.New("attach kprobe: invalid argument") })
	h.expect(ExitRefused, []string{"engagebpf af_alg_sendmsg: ks-bpf-load failed: ks-bpf-load: af_alg_sendmsg: attach kprobe: invalid argument"},
		"engagebpf", "af_alg_sendmsg", obj)
	h.m.SetHelper(nil)
	h.expect(ExitOK, []string{"engaged af_alg_sendmsg with BPF program"}, "engagebpf", "af_alg_sendmsg", obj)
	h.expect(ExitOK, []string{"af_alg_sendmsg  bpf"}, "status")
	h.expect(ExitOK, []string{"BPF engagement pinned at /sys/fs/bpf/killswitch/af_alg_sendmsg"}, "status", "af_alg_sendmsg")
	h.expect(ExitOK, []string{"disengaged af_alg_sendmsg: removed BPF pin /sys/fs/bpf/killswitch/af_alg_sendmsg"}, "disengage", "af_alg_sendmsg")
}

func TestCheck(t *testing.T) {
	h := newHarness(t)
	h.expect(ExitOK, []string{"security_file_open -1: ok", "ok     btf       int security_file_open(struct file *file)"}, "check", "security_file_open", "-1")
	h.expect(ExitWarn, []string{"filp_open 0: warn"}, "check", "filp_open", "0")
	h.expect(ExitRefused, []string{"put_unused_fd -1: refuse", "returns void"}, "check", "put_unused_fd", "-1")
	h.expect(ExitRefused, []string{"2 functions are named ks_test_dup", "<module>:ks_test_dup"}, "check", "ks_test_dup")
	h.expect(ExitRefused, []string{"kprobe blacklist"}, "check", "notify_die")
	h.expect(ExitOK, []string{"ok"}, "check", "put_unused_fd", "--observe")
	out := h.expect(ExitRefused, nil, "check", "put_unused_fd", "-1", "--json")
	var r struct {
		Symbol, Verdict, Prototype string
		Retval                     int64
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Verdict != "refuse" || r.Prototype != "void put_unused_fd(unsigned int fd)" || r.Retval != -1 {
		t.Errorf("check --json: %+v %v\n%s", r, err, out)
	}
}

func TestDoctor(t *testing.T) {
	h := newHarness(t)
	h.env.ProbeBPF = func() (error, error) { return nil, nil }
	out := h.expect(ExitWarn, []string{"ok    interface", "ok    bpf-probe", "warn  helper"}, "doctor")
	if strings.Contains(out, "\nfail ") {
		t.Errorf("doctor fails on the fixture:\n%s", out)
	}
	out = h.expect(ExitWarn, nil, "doctor", "--json")
	if !strings.Contains(out, `"check": "lockdown"`) {
		t.Errorf("doctor --json:\n%s", out)
	}
}

func TestSave(t *testing.T) {
	h := newHarness(t)
	file := filepath.Join(t.TempDir(), "modprobe.d", "killswitch.conf")
	h.expect(ExitRefused, []string{"nothing engaged that can be saved"}, "save", "--file", file)

	h.run("engage", "security_file_open", "-1")
	h.run("engage", "ks_test_vuln", "0x10")
	h.expect(ExitOK, []string{"saved to " + file + ": options killswitch engage=security_file_open=-1,ks_test_vuln=16"}, "save", "--file", file)
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Written by killswitch save on 2026-05-18T03:00:00Z by alice via sudo as root (uid 0).\n" +
		"# The module engages these when it loads; remove this file to stop.\n" +
		"options killswitch engage=security_file_open=-1,ks_test_vuln=16\n"
	if string(got) != want {
		t.Errorf("saved file:\n%s\nwant:\n%s", got, want)
	}

	// The saved line brings the engagements back after a reload.
	if err := h.m.Unload(); err != nil {
		t.Fatal(err)
	}
	param := strings.TrimPrefix(strings.Fields(strings.Split(string(got), "\n")[2])[2], "engage=")
	if err := h.m.Load(param); err != nil {
		t.Fatal(err)
	}
	h.expect(ExitOK, []string{"security_file_open", "ks_test_vuln", "16"}, "status")

	// What the parameter cannot carry is named, and nothing is written.
	h.run("engage", "__sys_socket", "-97", "arg1=38")
	h.run("observe", "strange_fn")
	h.run("tryengage", "xfrm4_udp_encap_rcv", "-22", "60", "--no-wait")
	before, _ := os.ReadFile(file)
	h.expect(ExitRefused, []string{
		"cannot save __sys_socket has filters (arg1:32=38)",
		"cannot save strange_fn is only observed",
		"cannot save xfrm4_udp_encap_rcv is still probing",
		"nothing written to " + file,
	}, "save", "--file", file)
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Error("save refused but wrote the file")
	}
	h.expect(ExitWarn, []string{"not saved: __sys_socket", "saved to"}, "save", "--file", file, "--partial")
}

func TestHelp(t *testing.T) {
	h := newHarness(t)
	root := (&app{env: h.env}).rootCommand()
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Example == "" {
			t.Errorf("%s has no examples in --help", c.Name())
		}
		h.expect(ExitOK, []string{"Examples:", c.Name()}, c.Name(), "--help")
	}
	h.expect(ExitOK, []string{"Exit codes: 0 done; 1 done with warnings; 2 refused"}, "--help")
	h.expect(ExitOK, []string{"bash completion"}, "completion", "bash")
}

func TestHideNegatives(t *testing.T) {
	got := hideNegatives([]string{"engage", "f", "-1", "-0x10", "--force", "-h", "--", "-2"})
	want := []string{"engage", "f", negPrefix + "1", negPrefix + "0x10", "--force", "-h", "--", "-2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("hideNegatives = %q", got)
	}
	if arg(got[2]) != "-1" || arg("x") != "x" {
		t.Error("arg does not undo hideNegatives")
	}
}
