package trust

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
)

var testCatalog = policy.MapCatalog{
	"CVE-2026-31431": {CVE: "CVE-2026-31431", Actions: []policy.Action{
		{Symbol: "af_alg_sendmsg", Verb: ksfs.VerbEngage, Retval: -1, Module: "af_alg"},
	}, Modules: []string{"algif_aead"}},
}

func parse(t *testing.T, entries string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte("apiVersion: killswitch/v1\nkind: Policy\nversion: \"1\"\nentries:\n"+entries), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRulesCheck(t *testing.T) {
	al, err := ParseAllowlist([]byte("# node's own list\nsymbol ks_test_vuln\nsymbol esp_input -22 -1\nmodule test_killswitch # for tests\n"), "/etc/killswitch/allowlist")
	if err != nil {
		t.Fatal(err)
	}
	catalog := Rules{Level: LevelCatalog}
	allow := Rules{Level: LevelAllowlist, Allowlist: al}
	anything := Rules{Level: LevelAny}
	for _, tc := range []struct {
		name  string
		entry string
		rules Rules
		want  string // reasons, space-separated
	}{
		{"catalog entry", "  - cve: CVE-2026-31431\n", catalog, ""},
		{"catalog entry loads its own module", "  - {cve: CVE-2026-31431, load: true}\n", catalog, ""},
		{"raw symbol under catalog", "  - {symbol: ks_test_vuln, retval: -5}\n", catalog, ReasonSymbol},
		{"raw observe under catalog", "  - {symbol: ks_test_vuln, verb: observe}\n", catalog, ReasonSymbol},
		{"raw symbol loading a module under catalog", "  - {symbol: ksmbd_x, retval: -5, module: ksmbd, load: true}\n", catalog, ReasonSymbol + " " + ReasonModule},
		{"raw symbol naming a module it does not load", "  - {symbol: ks_test_vuln, retval: -5, module: ksmbd}\n", allow, ""},
		{"allowlisted symbol", "  - {symbol: ks_test_vuln, retval: -5}\n", allow, ""},
		{"allowlisted symbol and module", "  - {symbol: ks_test_vuln, retval: -5, module: test_killswitch, load: true}\n", allow, ""},
		{"allowlisted symbol, module not", "  - {symbol: ks_test_vuln, retval: -5, module: ksmbd, load: true}\n", allow, ReasonModule},
		{"symbol not in allowlist", "  - {symbol: inode_owner_or_capable, retval: 1, filters: [\"uid=1000\"]}\n", allow, ReasonSymbol},
		{"allowlisted retval", "  - {symbol: esp_input, retval: -22}\n", allow, ""},
		{"retval not in allowlist", "  - {symbol: esp_input, retval: 0}\n", allow, ReasonRetval},
		{"catalog entry under allowlist", "  - {cve: CVE-2026-31431, load: true}\n", allow, ""},
		{"anything under any", "  - {symbol: vfs_read, retval: -5, module: ksmbd, load: true}\n", anything, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range tc.rules.Check(parse(t, tc.entry)) {
				got = append(got, r.Reason)
				if !strings.Contains(r.Message, "refused") || !strings.Contains(r.Message, r.Entry) {
					t.Errorf("message %q does not name the entry and say it is refused", r.Message)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("refusals = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	for _, s := range []string{"catalog", "allowlist", "any"} {
		if l, err := ParseLevel(s); err != nil || string(l) != s {
			t.Errorf("ParseLevel(%q) = %q, %v", s, l, err)
		}
	}
	for _, s := range []string{"", "Any", "all", "none"} {
		if _, err := ParseLevel(s); err == nil {
			t.Errorf("ParseLevel(%q) accepted", s)
		}
	}
	if err := (Rules{Level: LevelAllowlist}).Validate(); err == nil || !strings.Contains(err.Error(), "--trust-allowlist") {
		t.Errorf("allowlist level without a list: %v", err)
	}
}

func TestParseAllowlist(t *testing.T) {
	for _, tc := range []struct {
		text, err string
	}{
		{"", ""},
		{"symbol a\nsymbol a -1\n", ""},
		{"symbol ..\n", "line 1"},
		{"module -r\n", "starts with '-'"},
		{"symbol f x\n", `"x" is not a return value`},
		{"engage f -1\n", "want \"symbol <name>"},
		{"module a b\n", "want \"symbol <name>"},
	} {
		_, err := ParseAllowlist([]byte(tc.text), "al")
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseAllowlist(%q) = %v, want %q", tc.text, err, tc.err)
		}
	}
	// A later bare "symbol a" widens a to any retval.
	a, _ := ParseAllowlist([]byte("symbol a -1\nsymbol a\n"), "al")
	if !a.Retval("a", 5) {
		t.Error("bare symbol line did not allow any retval")
	}
}

func TestLoadAllowlistOwnership(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "allowlist")
	loose := filepath.Join(dir, "loose")
	for _, p := range []string{good, loose} {
		if err := os.WriteFile(p, []byte("symbol f\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(loose, 0o664)
	me := os.Getuid()
	for _, tc := range []struct {
		path  string
		owner int
		want  string
	}{
		{good, me, ""},
		{good, me + 1, "owned by uid"},
		{loose, me, "chmod go-w"},
		{filepath.Join(dir, "missing"), me, "no such file"},
	} {
		a, err := LoadAllowlist(tc.path, tc.owner)
		if tc.want == "" {
			if err != nil || !a.Symbol("f") {
				t.Errorf("LoadAllowlist(%s) = %v", tc.path, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadAllowlist(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}
