package preflight

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/ksfs"
)

func rv(v int64) *int64 { return &v }

func mustFilter(t *testing.T, s string) ksfs.Filter {
	t.Helper()
	f, err := ksfs.ParseFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCheck(t *testing.T) {
	h, _ := newFixture(t)
	for _, tc := range []struct {
		name    string
		req     Request
		verdict Verdict
		// says is a substring of some finding; the finding's check name
		// comes first, "check: text".
		says []string
	}{
		{
			name: "errno on int", req: Request{Symbol: "security_file_open", Retval: rv(-1)}, verdict: OK,
			says: []string{"btf: int security_file_open(struct file *file)", "retval: security_file_open returns int; callers will see the error -1 (EPERM)", "guard: security_file_open is an LSM hook (guard rule security_*): -1 (EPERM) fails closed"},
		},
		{
			name: "guarded fail-open", req: Request{Symbol: "security_file_open", Retval: rv(0)}, verdict: Refuse,
			says: []string{"guard: security_file_open is an LSM hook (guard rule security_*): 0 would make a security check pass", "retval: security_file_open returns int: 0 is not an errno"},
		},
		{
			name: "guarded fail-open forced", req: Request{Symbol: "security_file_open", Retval: rv(0), Force: true}, verdict: Refuse,
			says: []string{"guard: security_file_open is an LSM hook"},
		},
		{
			name: "void", req: Request{Symbol: "put_unused_fd", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"retval: put_unused_fd returns void", "btf: void put_unused_fd(unsigned int fd)"},
		},
		{
			name: "void forced", req: Request{Symbol: "put_unused_fd", Retval: rv(-1), Force: true}, verdict: Warn,
			says: []string{"retval: put_unused_fd returns void", "--force"},
		},
		{
			name: "void without retval", req: Request{Symbol: "put_unused_fd"}, verdict: OK,
			says: []string{"btf: void put_unused_fd"},
		},
		{
			name: "pointer NULL", req: Request{Symbol: "filp_open", Retval: rv(0)}, verdict: Warn,
			says: []string{"retval: filp_open returns a pointer: 0 makes it return NULL, and callers that only check IS_ERR()", "btf: struct file *filp_open(const char *filename, int flags)"},
		},
		{
			name: "pointer ERR_PTR", req: Request{Symbol: "filp_open", Retval: rv(-22)}, verdict: Warn,
			says: []string{"ERR_PTR(-22)", "only check for NULL"},
		},
		{
			name: "pointer made up", req: Request{Symbol: "filp_open", Retval: rv(4096)}, verdict: Refuse,
			says: []string{"neither NULL nor an ERR_PTR"},
		},
		{
			name: "bool deny", req: Request{Symbol: "ns_capable", Retval: rv(0)}, verdict: OK,
			says: []string{"retval: ns_capable returns bool; it will return false", "guard: ns_capable is a capability check (guard rule ns_capable*): 0 fails closed"},
		},
		{
			name: "bool grant", req: Request{Symbol: "ns_capable", Retval: rv(1)}, verdict: Refuse,
			says: []string{"guard: ns_capable is a capability check (guard rule ns_capable*): 1 can read as \"true\" for a yes/no security check and grant without checking (use 0 to deny"},
		},
		{
			name: "bool range", req: Request{Symbol: "ns_capable", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"retval: ns_capable returns bool: -1 (EPERM) is neither false (0) nor true (1)"},
		},
		{
			name: "int zero", req: Request{Symbol: "xfrm4_udp_encap_rcv", Retval: rv(0)}, verdict: Warn,
			says: []string{"retval: xfrm4_udp_encap_rcv returns int: 0 is not an errno", "kallsyms: compiler clones of xfrm4_udp_encap_rcv exist (xfrm4_udp_encap_rcv.constprop.0)"},
		},
		{
			name: "int overflow", req: Request{Symbol: "strange_fn", Retval: rv(1 << 40)}, verdict: Refuse,
			says: []string{"strange_fn returns int (32 bits): 1099511627776 does not fit"},
		},
		{
			name: "int non-errno", req: Request{Symbol: "strange_fn", Retval: rv(-5000)}, verdict: Warn,
			says: []string{"-5000 is not an errno"},
		},
		{
			name: "unsigned errno", req: Request{Symbol: "get_order_u", Retval: rv(-22)}, verdict: Warn,
			says: []string{"an unsigned type"},
		},
		{
			name: "struct by value", req: Request{Symbol: "struct_ret", Retval: rv(0), Force: true}, verdict: Refuse,
			says: []string{"returns a struct file by value"},
		},
		{
			name: "blacklisted", req: Request{Symbol: "notify_die", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"blacklist: notify_die is on the kprobe blacklist"},
		},
		{
			name: "not traceable", req: Request{Symbol: "notrace_fn", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"ftrace: notrace_fn is not in available_filter_functions"},
		},
		{
			name: "ambiguous", req: Request{Symbol: "dup_fn", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"kallsyms: 2 functions are named dup_fn (static functions in different files): the module refuses a name that does not say which; the first is in vmlinux at 0xffffffff81290000; the others vmlinux at 0xffffffff812a0000"},
		},
		{
			name: "only clones", req: Request{Symbol: "cloned_fn", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"cloned_fn does not exist as such: the compiler only left clones (cloned_fn.isra.0)", "engage the exact clone name, e.g. cloned_fn.isra.0"},
		},
		{
			name: "clone by name", req: Request{Symbol: "cloned_fn.isra.0", Retval: rv(-1)}, verdict: Warn,
			says: []string{"is a compiler clone"},
		},
		{
			name: "inlined", req: Request{Symbol: "inlined_fn", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"inlined into its callers"},
		},
		{
			name: "unknown", req: Request{Symbol: "no_such_function", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"no function no_such_function in kallsyms"},
		},
		{
			name: "exported symbol of an unloaded module", req: Request{Symbol: "af_alg_sendmsg", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"module: symbol is in module af_alg, which is not loaded (modprobe af_alg, or pass --load)"},
		},
		{
			name: "named module not loaded", req: Request{Symbol: "esp_input", Retval: rv(-22), Module: "esp4"}, verdict: Refuse,
			says: []string{"symbol is in module esp4, which is not loaded"},
		},
		{
			name: "hazard", req: Request{Symbol: "kmalloc_trace", Retval: rv(0)}, verdict: Refuse,
			says: []string{"guard: kmalloc_trace is an allocator (guard rule kmalloc*): the kernel or killswitch itself depends on it"},
		},
		{
			name: "observe ignores retval rules", req: Request{Symbol: "put_unused_fd", Observe: true}, verdict: OK,
		},
		{
			name: "module symbol via split BTF", req: Request{Symbol: "ks_test_vuln", Retval: rv(-1)}, verdict: OK,
			says: []string{"kallsyms: found in module test_killswitch at 0xffffffffc0001000", "btf: long int ks_test_vuln(long int a)"},
		},
		{
			name: "module void", req: Request{Symbol: "ks_test_void", Retval: rv(0)}, verdict: Refuse,
			says: []string{"ks_test_void returns void"},
		},
		{
			name: "module pointer", req: Request{Symbol: "ks_test_ptr", Retval: rv(0)}, verdict: Warn,
			says: []string{"btf: void *ks_test_ptr(void)", "returns a pointer"},
		},
		{
			name: "module bool", req: Request{Symbol: "ks_test_bool", Retval: rv(2)}, verdict: Refuse,
			says: []string{"ks_test_bool returns bool"},
		},
		{
			name: "module ambiguous", req: Request{Symbol: "ks_test_dup", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"2 functions are named ks_test_dup"},
		},
		{
			name: "qualified by address", req: Request{Symbol: "dup_fn@0xffffffff812a0000", Retval: rv(-1)}, verdict: OK,
			says: []string{"found in vmlinux at 0xffffffff812a0000"},
		},
		{
			name: "wrong address", req: Request{Symbol: "dup_fn@0x1234", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"no function named dup_fn is at 0x1234"},
		},
		{
			name: "module qualified", req: Request{Symbol: "test_killswitch:ks_test_vuln", Retval: rv(-1)}, verdict: OK,
			says: []string{"found in module test_killswitch"},
		},
		{
			name: "module without BTF", req: Request{Symbol: "ks_nobtf", Retval: rv(-1)}, verdict: Warn,
			says: []string{"btf: module nobtf has no BTF"},
		},
		{
			name: "arg filter", req: Request{Symbol: "__sys_socket", Retval: rv(-97), Filters: []ksfs.Filter{mustFilter(t, "arg1=38")}}, verdict: OK,
			says: []string{"filter: filter arg1=38 tests argument 1 (int family)"},
		},
		{
			name: "arg filter past the arguments", req: Request{Symbol: "__sys_socket", Retval: rv(-97), Filters: []ksfs.Filter{mustFilter(t, "arg4=1")}}, verdict: Refuse,
			says: []string{"__sys_socket takes 3 argument(s), so arg4"},
		},
		{
			name: "arg filter on pointer", req: Request{Symbol: "security_file_open", Retval: rv(-1), Filters: []ksfs.Filter{mustFilter(t, "arg1=0")}}, verdict: Warn,
			says: []string{"is a pointer"},
		},
		{
			name: "arg filter on syscall wrapper", req: Request{Symbol: "__x64_sys_socket", Retval: rv(-97), Filters: []ksfs.Filter{mustFilter(t, "arg1=38")}}, verdict: Refuse,
			says: []string{"__x64_sys_socket is a syscall wrapper", "__do_sys_socket or __sys_socket"},
		},
		{
			name: "uid filter on syscall wrapper", req: Request{Symbol: "__x64_sys_socket", Retval: rv(-97), Filters: []ksfs.Filter{mustFilter(t, "uid!=0")}}, verdict: OK,
		},
		{
			name: "padding", req: Request{Symbol: "__pfx_security_file_open", Retval: rv(-1)}, verdict: Refuse,
			says: []string{"symbol: __pfx_security_file_open is the padding in front of security_file_open, not a function (engage security_file_open)"},
		},
		{
			name: "bad symbol", req: Request{Symbol: "a b"}, verdict: Refuse,
			says: []string{"symbol: symbol \"a b\""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Check(tc.req)
			var lines []string
			for _, f := range r.Findings {
				lines = append(lines, f.Check+": "+f.String())
			}
			all := strings.Join(lines, "\n")
			if r.Verdict != tc.verdict {
				t.Errorf("verdict %v, want %v\n%s", r.Verdict, tc.verdict, all)
			}
			for _, s := range tc.says {
				if !strings.Contains(all, s) {
					t.Errorf("findings do not say %q:\n%s", s, all)
				}
			}
		})
	}
}

func TestCheckHostState(t *testing.T) {
	_, root := newFixture(t)
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	req := Request{Symbol: "security_file_open", Retval: rv(-1)}

	write("sys/kernel/security/lockdown", "none [integrity] confidentiality\n")
	write("sys/kernel/debug/kprobes/enabled", "0\n")
	write("sys/module/killswitch/parameters/guard", "N\n")
	r := NewHost(hostfs.Dir(root)).Check(Request{Symbol: "security_file_open", Retval: rv(0)})
	got, _ := json.Marshal(r)
	for _, want := range []string{
		`"check":"lockdown","verdict":"refuse","message":"the kernel is locked down (integrity): runtime engagement is refused"`,
		`"check":"kprobes","verdict":"refuse"`,
		`"check":"guard","verdict":"refuse"`,
		`the module ignores guard=0 under lockdown"`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("report lacks %s:\n%s", want, got)
		}
	}
	if r := NewHost(hostfs.Dir(root)).Check(Request{Symbol: "security_file_open", Observe: true}); r.Verdict != Refuse {
		t.Errorf("observe with kprobes disabled: %v", r.Verdict) // kprobes off refuses everything
	}

	// Without lockdown guard=0 holds: the guard only warns.
	write("sys/kernel/security/lockdown", "[none] integrity confidentiality\n")
	got, _ = json.Marshal(NewHost(hostfs.Dir(root)).Check(Request{Symbol: "security_file_open", Retval: rv(0)}))
	if want := `"check":"guard","verdict":"warn","message":"security_file_open is an LSM hook (guard rule security_*): 0 would make a security check pass without checking; the guard is off (guard=0)"`; !strings.Contains(string(got), want) {
		t.Errorf("report lacks %s:\n%s", want, got)
	}

	// Nothing readable: everything is skipped but the missing BTF.
	empty := NewHost(hostfs.Dir(t.TempDir())).Check(req)
	if empty.Verdict != Warn || len(empty.Refusals()) != 0 {
		t.Errorf("empty host verdict %v: %+v", empty.Verdict, empty.Findings)
	}
}

// TestCheckRealKernel runs Check against the running kernel where its
// BTF is readable, and reports how long it takes.
func TestCheckRealKernel(t *testing.T) {
	if _, err := os.Stat(vmlinuxBTF); err != nil {
		t.Skip("no kernel BTF")
	}
	start := time.Now()
	r := NewHost(hostfs.Dir("/")).Check(Request{Symbol: "security_file_open", Retval: rv(-1)})
	t.Logf("check took %v: %s", time.Since(start), r.Prototype)
	if r.Prototype == "" {
		t.Errorf("no prototype from the running kernel's BTF: %+v", r.Findings)
	}
}
