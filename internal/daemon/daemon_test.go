package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/catalog"
	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
)

func TestCatalogAdapter(t *testing.T) {
	c, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	var none string
	for _, e := range c.Entries() {
		if e.Verb == catalog.VerbNone {
			none = e.ID
			break
		}
	}
	cat := defaultCatalog()
	tests := []struct {
		cve     string
		want    string // the actions' commands
		err     error
		errText string
	}{
		{cve: "CVE-2026-31431", want: "engage af_alg_sendmsg -1"},
		{cve: "cve-2026-43284", want: "engage esp_input -22; engage esp6_input -22"},
		// A BPF mitigation becomes its native caller-filter equivalent.
		{cve: "CVE-2025-21700", want: "engage tc_modify_qdisc -1 uid!=0"},
		{cve: "CVE-2099-0001", err: policy.ErrUnknownCVE},
		{cve: none, errText: "no runtime mitigation"},
	}
	for _, tt := range tests {
		t.Run(tt.cve, func(t *testing.T) {
			m, err := cat.Mitigation(tt.cve)
			switch {
			case tt.err != nil || tt.errText != "":
				if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("got %v, want %v %q", err, tt.err, tt.errText)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			var got []string
			for _, a := range m.Actions {
				got = append(got, ksfs.Command{Verb: a.Verb, Symbol: a.Symbol, Retval: a.Retval, Filters: a.Filters}.String())
			}
			if s := strings.Join(got, "; "); s != tt.want {
				t.Errorf("actions %q, want %q", s, tt.want)
			}
		})
	}

	m, err := cat.Mitigation("CVE-2025-21700")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		version string
		fixed   bool
	}{{"6.1.128", false}, {"6.1.129", true}, {"6.12.13", true}, {"6.12.12", false}} {
		v, _ := policy.ParseVersion(k.version)
		if got := m.Fixed(policy.Kernel{Release: "x", Version: v}); got != k.fixed {
			t.Errorf("fixed in %s: %v, want %v", k.version, got, k.fixed)
		}
	}
	if m.Fixed(policy.Kernel{Release: "6.1.0-56-amd64"}) {
		t.Error("an unknown version counts as fixed: the mitigation would be skipped")
	}
}

func run1(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("apiVersion: killswitch/v1\nkind: Policy\nversion: \"3\"\nentries:\n  - cve: CVE-2026-31431\n  - {name: old, symbol: f, retval: -1, kernel: {version: \"<6.1.100\"}}\n"), 0o644)
	os.WriteFile(bad, []byte("apiVersion: killswitch/v1\nkind: Policy\nversion: \"3\"\nentries:\n  - {symbol: f, retvl: -1}\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"valid", []string{"validate", "--trust=any", good}, ExitOK, []string{`valid: version "3", 2 entries, 2 engagements, allowed by --trust=any`}},
		{"refused by the default trust", []string{"validate", good}, ExitInvalid, []string{"invalid on a node with --trust=catalog: 1 target(s) refused", "entry old: symbol f is not a catalog entry"}},
		{"selection", []string{"validate", "--trust=any", "--kernel-release", "6.1.0-56-amd64", "--kernel-version", "6.1.192", good}, ExitOK,
			[]string{"on 6.1.0-56-amd64 (6.1.192) now:", "engage af_alg_sendmsg -1", "old", "skipped, not-selected: kernel version 6.1.192 is outside <6.1.100"}},
		{"invalid", []string{"validate", "--trust=any", good, bad}, ExitInvalid, []string{"good.yaml: valid", "bad.yaml: invalid, 2 problem(s):", `line 5: entries[0].retvl: unknown field "retvl"`}},
		{"missing", []string{"validate", filepath.Join(dir, "nope.yaml")}, ExitInvalid, []string{"cannot read"}},
		{"version without release", []string{"validate", "--kernel-version", "6.1.1", good}, ExitError, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := run1(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errs)
			}
			for _, w := range tt.out {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestMetricsCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# HELP a x\n# TYPE a gauge\nkillswitch_module_loaded 1\nkillswitch_policy_valid 1\ngo_goroutines 9\n")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	out, _, code := run1(t, "metrics", "--address", addr, "killswitch_module")
	if code != ExitOK || out != "killswitch_module_loaded 1\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	out, _, _ = run1(t, "metrics", "--address", addr)
	if strings.Count(out, "\n") != 3 || strings.Contains(out, "#") {
		t.Errorf("all samples, no comments: %q", out)
	}
	srv.Close()
	_, errs, code := run1(t, "metrics", "--address", addr, "--timeout", time.Second.String())
	if code != ExitError || !strings.Contains(errs, "is killswitchd running") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	for _, tt := range []struct {
		format, level string
		ok            bool
	}{{"text", "info", true}, {"json", "debug", true}, {"xml", "info", false}, {"text", "loud", false}} {
		_, err := newLogger(&b, tt.format, tt.level)
		if (err == nil) != tt.ok {
			t.Errorf("%s/%s: %v", tt.format, tt.level, err)
		}
	}
	t.Setenv("JOURNAL_STREAM", "8:1234")
	log, _ := newLogger(&b, "text", "info")
	b.Reset()
	log.Info("engaged", "symbol", "f")
	if strings.Contains(b.String(), "time=") {
		t.Errorf("under the journal the time is the journal's: %q", b.String())
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	_, errs, code := run1(t, "--log-format", "xml", "--policy", "/nonexistent")
	if code != ExitError || !strings.Contains(errs, "--log-format") {
		t.Errorf("exit %d: %s", code, errs)
	}
}
