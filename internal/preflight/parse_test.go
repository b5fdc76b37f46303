package preflight

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseKallsyms(t *testing.T) {
	l := ParseKallsyms(fixtureKallsyms, "ks_test_dup", "")
	if len(l.Entries) != 2 || l.Entries[0].Module != "test_killswitch" || l.Entries[0].Addr != "ffffffffc0005000" {
		t.Errorf("ks_test_dup: %+v", l)
	}
	l = ParseKallsyms(fixtureKallsyms, "cloned_fn", "")
	if len(l.Entries) != 0 || len(l.Clones) != 1 || l.Clones[0].Name != "cloned_fn.isra.0" {
		t.Errorf("cloned_fn: %+v (.cold must not count)", l)
	}
	if l := ParseKallsyms(fixtureKallsyms, "put_unused_fd", ""); len(l.Entries) != 1 {
		t.Errorf("data symbol counted: %+v", l)
	}
	if l := ParseKallsyms(fixtureKallsyms, "ks_test_vuln", "other"); len(l.Entries) != 0 {
		t.Errorf("module filter ignored: %+v", l)
	}
	if got := (Symbol{Addr: "0000000000000000", Name: "x"}).Where(); got != "vmlinux" {
		t.Errorf("hidden address shown: %q", got)
	}
}

func TestParseTracing(t *testing.T) {
	for _, tc := range []struct {
		name, module string
		want         bool
	}{
		{"put_unused_fd", "", true},
		{"put_unused", "", false},
		{"ks_test_vuln", "test_killswitch", true},
		{"ks_test_vuln", "", true},
		{"ks_test_vuln", "other", false},
		{"notrace_fn", "", false},
	} {
		if got := ParseFilterFunctions(fixtureFilterFunctions, tc.name, tc.module); got != tc.want {
			t.Errorf("ParseFilterFunctions(%q, %q) = %v", tc.name, tc.module, got)
		}
	}
	bl := "0xffffffff81260000-0xffffffff81260040\tnotify_die\nold_style_name\n0x0-0x0\t[__kprobes_text]\n"
	for name, want := range map[string]bool{"notify_die": true, "old_style_name": true, "notify": false, "[__kprobes_text]": true} {
		if got := ParseBlacklist(bl, name); got != want {
			t.Errorf("ParseBlacklist(%q) = %v", name, got)
		}
	}
}

func TestParseConfig(t *testing.T) {
	got := ParseConfig(fixtureConfig)
	want := map[string]string{
		"CONFIG_KPROBES": "y", "CONFIG_KPROBES_ON_FTRACE": "y", "CONFIG_SECURITYFS": "y", "CONFIG_FTRACE": "y",
		"CONFIG_FUNCTION_TRACER": "y", "CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_MODULES": "y", "CONFIG_MODULE_SIG": "y", "CONFIG_BPF_SYSCALL": "y",
		"CONFIG_BPF_EVENTS": "y", "CONFIG_LOCALVERSION": `"-fixture"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseConfig = %v", got)
	}
}

func TestModuleOfSymbol(t *testing.T) {
	ms := "alias symbol:af_alg_sendmsg af_alg\nalias symbol:af_alg_sendmsg_x other\n"
	if got := moduleOfSymbol(ms, "af_alg_sendmsg"); got != "af_alg" {
		t.Errorf("got %q", got)
	}
	if got := moduleOfSymbol(ms, "af_alg"); got != "" {
		t.Errorf("prefix matched: %q", got)
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{"f": "f", "m:f": "f", "f.isra.0": "f", "m:f.constprop.1": "f"} {
		if got := baseName(in); got != want {
			t.Errorf("baseName(%q) = %q", in, got)
		}
	}
}

func FuzzParseKallsyms(f *testing.F) {
	f.Add(fixtureKallsyms, "ks_test_dup", "")
	f.Add("ffffffff81000000 T x.isra.0\t[m]\n", "x", "m")
	f.Fuzz(func(t *testing.T, data, name, module string) {
		if name == "" {
			return
		}
		l := ParseKallsyms(data, name, module)
		for _, s := range l.Entries {
			if s.Name != name || (module != "" && s.Module != module) {
				t.Fatalf("entry %+v for %q in %q", s, name, module)
			}
		}
		for _, s := range l.Clones {
			if !strings.HasPrefix(s.Name, name+".") {
				t.Fatalf("clone %+v for %q", s, name)
			}
		}
	})
}

func FuzzParseTracing(f *testing.F) {
	f.Add(fixtureFilterFunctions, "ks_test_vuln", "test_killswitch")
	f.Fuzz(func(t *testing.T, data, name, module string) {
		if ParseFilterFunctions(data, name, module) && (!strings.Contains(data, name) || !strings.Contains(data, module)) {
			t.Fatalf("%q (module %q) found in %q, which does not hold it", name, module, data)
		}
		if ParseBlacklist(data, name) && !strings.Contains(data, name) {
			t.Fatalf("%q blacklisted by %q", name, data)
		}
		if m := moduleOfSymbol(data, name); m != strings.TrimSpace(m) {
			t.Fatalf("module %q of %q has spaces around it", m, name)
		}
		// A listing that has the function's line finds it, whatever
		// comes before.
		word := func(s string) bool {
			return s != "" && !strings.ContainsAny(s, " \t\n\r\v\f[]\u0085\u00a0") && len(strings.Fields(s)) == 1
		}
		if !word(name) {
			return
		}
		line := name
		if word(module) {
			line += " [" + module + "]"
		} else {
			module = ""
		}
		if !ParseFilterFunctions(data+"\n"+line+"\n", name, module) {
			t.Fatalf("%q not found after %q", line, data)
		}
		if !ParseBlacklist(data+"\n0xffffffff81000000-0xffffffff81000010\t"+name+"\n", name) {
			t.Fatalf("%q not blacklisted after %q", name, data)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add(fixtureConfig)
	f.Fuzz(func(t *testing.T, data string) {
		for k := range ParseConfig(data) {
			if !strings.HasPrefix(k, "CONFIG_") {
				t.Fatalf("key %q", k)
			}
		}
	})
}
