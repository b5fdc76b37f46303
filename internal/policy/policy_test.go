package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// testCatalog has the two headline CVEs and one that only tryengages.
var testCatalog = MapCatalog{
	"CVE-2026-31431": {CVE: "CVE-2026-31431", Actions: []Action{
		{Symbol: "af_alg_sendmsg", Verb: ksfs.VerbEngage, Retval: -1, Module: "af_alg"},
	}},
	"CVE-2026-43284": {CVE: "CVE-2026-43284", Actions: []Action{
		{Symbol: "esp_input", Verb: ksfs.VerbEngage, Retval: -22, Module: "esp4"},
		{Symbol: "esp6_input", Verb: ksfs.VerbEngage, Retval: -22, Module: "esp6"},
	}, Fixed: func(k Kernel) bool { return k.Version.Compare(ver(6, 1, 200)) >= 0 }},
	"CVE-2025-21700": {CVE: "CVE-2025-21700", Actions: []Action{
		{Symbol: "tc_modify_qdisc", Verb: ksfs.VerbTryEngage, Retval: -1, Probe: 60 * time.Second,
			Filters: []ksfs.Filter{{Negate: true, Value: 0}}},
	}},
	"CVE-2026-00001": {CVE: "CVE-2026-00001"},
}

const header = "apiVersion: killswitch/v1\nkind: Policy\nversion: \"7\"\n"

func TestParseValid(t *testing.T) {
	tests := []struct {
		name    string
		entries string
		want    []Target
	}{
		{"empty", "entries: []\n", nil},
		{"symbol", `entries:
  - symbol: ks_test_vuln
    retval: -5
`, []Target{{Entry: "ks_test_vuln", Symbol: "ks_test_vuln", Verb: ksfs.VerbEngage, Retval: -5}}},
		{"hex retval, filters, module", `entries:
  - name: sock
    symbol: __sys_socket
    retval: -0x61
    filters: ["arg1=38", "uid!=0"]
    module: af_alg
    load: true
`, []Target{{Entry: "sock", Symbol: "__sys_socket", Verb: ksfs.VerbEngage, Retval: -97,
			Filters: []ksfs.Filter{{Arg: 1, Value: 38}, {Negate: true}}, Module: "af_alg", Load: true}}},
		{"tryengage with a duration", `entries:
  - symbol: esp_input
    retval: -22
    verb: tryengage
    probe: 5m
`, []Target{{Entry: "esp_input", Symbol: "esp_input", Verb: ksfs.VerbTryEngage, Retval: -22, Probe: 5 * time.Minute}}},
		{"tryengage with seconds", `entries:
  - {symbol: esp_input, retval: -22, verb: tryengage, probe: 30}
`, []Target{{Entry: "esp_input", Symbol: "esp_input", Verb: ksfs.VerbTryEngage, Retval: -22, Probe: 30 * time.Second}}},
		{"observe", `entries:
  - symbol: ksmbd_smb2_negotiate
    verb: observe
`, []Target{{Entry: "ksmbd_smb2_negotiate", Symbol: "ksmbd_smb2_negotiate", Verb: ksfs.VerbObserve}}},
		{"cve", `entries:
  - cve: cve-2026-43284
    adopt: true
`, []Target{
			{Entry: "CVE-2026-43284", CVE: "CVE-2026-43284", Symbol: "esp_input", Verb: ksfs.VerbEngage, Retval: -22, Module: "esp4", Adopt: true},
			{Entry: "CVE-2026-43284", CVE: "CVE-2026-43284", Symbol: "esp6_input", Verb: ksfs.VerbEngage, Retval: -22, Module: "esp6", Adopt: true},
		}},
		{"cve as tryengage with another probe", `entries:
  - cve: CVE-2026-31431
    verb: tryengage
    probe: 10s
`, []Target{{Entry: "CVE-2026-31431", CVE: "CVE-2026-31431", Symbol: "af_alg_sendmsg", Verb: ksfs.VerbTryEngage, Retval: -1, Probe: 10 * time.Second, Module: "af_alg"}}},
		{"cve tryengage from the catalog, engaged at once", `entries:
  - cve: CVE-2025-21700
    verb: engage
`, []Target{{Entry: "CVE-2025-21700", CVE: "CVE-2025-21700", Symbol: "tc_modify_qdisc", Verb: ksfs.VerbEngage, Retval: -1,
			Filters: []ksfs.Filter{{Negate: true}}}}},
		{"same symbol on different kernels", `entries:
  - {name: a, symbol: f, retval: -1, kernel: {version: "6.1"}}
  - {name: b, symbol: f, retval: -2, kernel: {version: "6.12"}}
`, []Target{{Entry: "a", Symbol: "f", Verb: ksfs.VerbEngage, Retval: -1}, {Entry: "b", Symbol: "f", Verb: ksfs.VerbEngage, Retval: -2}}},
		{"anchors", `entries:
  - {name: a, symbol: f, retval: -1, expires: &exp 2026-07-01T00:00:00Z}
  - {name: b, symbol: g, retval: -1, expires: *exp}
`, []Target{{Entry: "a", Symbol: "f", Verb: ksfs.VerbEngage, Retval: -1}, {Entry: "b", Symbol: "g", Verb: ksfs.VerbEngage, Retval: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(header+tt.entries), testCatalog)
			if err != nil {
				t.Fatal(err)
			}
			var got []Target
			for _, e := range p.Entries {
				got = append(got, e.Targets...)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("targets: got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Command().String() != tt.want[i].Command().String() || got[i].Entry != tt.want[i].Entry ||
					got[i].Module != tt.want[i].Module || got[i].Load != tt.want[i].Load || got[i].Adopt != tt.want[i].Adopt ||
					got[i].CVE != tt.want[i].CVE {
					t.Errorf("target %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if p.Version != "7" {
				t.Errorf("version %q", p.Version)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error, in order
	}{
		{"empty file", "", []string{"the file is empty"}},
		{"not yaml", "a: [", []string{"not valid YAML"}},
		{"two documents", header + "entries: []\n---\n" + header + "entries: []\n", []string{"more than one YAML document"}},
		{"scalar", "hello\n", []string{"must be a mapping"}},
		{"no header", "entries: []\n", []string{"apiVersion: missing", "kind: missing", "version: missing"}},
		{"other schema", "apiVersion: killswitch/v2\nkind: Policy\nversion: 1\nentries: []\n", []string{`"killswitch/v2" is not a schema`}},
		{"unknown top field", header + "entries: []\nexclusiv: true\n", []string{`line 5: exclusiv: unknown field "exclusiv"`}},
		{"missing entries", header, []string{"entries: missing"}},
		{"null entries", header + "entries:\n", []string{"entries: empty"}},
		{"repeated field", header + "version: 8\nentries: []\n", []string{"line 4: version: given twice (first on line 3)"}},
		{"unknown entry field", header + "entries:\n  - symbol: f\n    retvl: -1\n", []string{
			"line 5: entries[0].retval: missing", `line 6: entries[0].retvl: unknown field "retvl"`}},
		{"bad retval", header + "entries:\n  - {symbol: f, retval: minus one}\n", []string{`"minus one" is not a return value`}},
		{"float retval", header + "entries:\n  - {symbol: f, retval: 1.5}\n", []string{`"1.5" is not a return value`}},
		{"retval out of range", header + "entries:\n  - {symbol: f, retval: 9223372036854775808}\n", []string{"is not a return value"}},
		{"bad symbol", header + "entries:\n  - {symbol: \"f g\", retval: -1}\n", []string{"cannot be part of a kernel symbol"}},
		{"neither", header + "entries:\n  - {retval: -1}\n", []string{"say what to engage"}},
		{"both", header + "entries:\n  - {cve: CVE-2026-31431, symbol: f}\n", []string{"give cve or symbol, not both"}},
		{"cve with retval", header + "entries:\n  - {cve: CVE-2026-31431, retval: 0}\n", []string{"entries[0].retval: a CVE entry takes retval from the catalog"}},
		{"unknown cve", header + "entries:\n  - {cve: CVE-2026-99999}\n", []string{"CVE-2026-99999: not in the catalog"}},
		{"cve without mitigation", header + "entries:\n  - {cve: CVE-2026-00001}\n", []string{"no runtime mitigation"}},
		{"bad cve", header + "entries:\n  - {cve: CVE-26-1}\n", []string{"is not a CVE id"}},
		{"engagebpf", header + "entries:\n  - {symbol: f, retval: -1, verb: engagebpf}\n", []string{"engagebpf is not something the agent does"}},
		{"bad verb", header + "entries:\n  - {symbol: f, retval: -1, verb: engag}\n", []string{`"engag" is not engage, tryengage or observe`}},
		{"tryengage without probe", header + "entries:\n  - {symbol: f, retval: -1, verb: tryengage}\n", []string{"tryengage needs a probe time"}},
		{"engage with probe", header + "entries:\n  - {symbol: f, retval: -1, probe: 5}\n", []string{"engage has no probe"}},
		{"probe too long", header + "entries:\n  - {symbol: f, retval: -1, verb: tryengage, probe: 2d}\n", []string{"want seconds (0..86400)"}},
		{"observe with retval", header + "entries:\n  - {symbol: f, retval: -1, verb: observe}\n", []string{"observe overrides nothing, so it takes no retval"}},
		{"bad filter", header + "entries:\n  - {symbol: f, retval: -1, filters: [\"arg9=1\"]}\n", []string{"entries[0].filters[0]:", "arg9"}},
		{"filters not a list", header + "entries:\n  - {symbol: f, retval: -1, filters: \"uid!=0\"}\n", []string{"want a list"}},
		{"too many filters", header + "entries:\n  - {symbol: f, retval: -1, filters: [uid=1,uid=2,uid=3,uid=4,uid=5,uid=6,uid=7]}\n", []string{"at most 6"}},
		{"load without module", header + "entries:\n  - {symbol: f, retval: -1, load: true}\n", []string{"load: true needs module:"}},
		{"bool as string", header + "entries:\n  - {symbol: f, retval: -1, load: \"yes\"}\n", []string{"want true or false"}},
		{"date without zone", header + "entries:\n  - {symbol: f, retval: -1, expires: 2026-07-01}\n", []string{"RFC 3339"}},
		{"bad constraint", header + "entries:\n  - {symbol: f, retval: -1, kernel: {version: \">=6.x\"}}\n", []string{"kernel.version", "is not a version number"}},
		{"unknown selector field", header + "entries:\n  - {symbol: f, retval: -1, kernel: {arch: x86_64}}\n", []string{`unknown field "arch"`}},
		{"bad glob", header + "entries:\n  - {symbol: f, retval: -1, kernel: {release: \"6.1[\"}}\n", []string{"not a valid glob"}},
		{"duplicate name", header + "entries:\n  - {symbol: f, retval: -1}\n  - {symbol: f, retval: -2}\n", []string{`"f" is the name of the entry on line 5 too`}},
		{"duplicate symbol", header + "entries:\n  - {name: a, symbol: f, retval: -1}\n  - {name: b, symbol: f, retval: -2}\n", []string{`entries "a" (line 5) and "b" both engage f`}},
		{"bad name", header + "entries:\n  - {name: \"a b\", symbol: f, retval: -1}\n", []string{"it becomes a metric label"}},
		{"entry not a mapping", header + "entries:\n  - f\n", []string{"entries[0] must be a mapping"}},
		{"merge key", header + "x: &d {retval: -1}\nentries:\n  - {<<: *d, symbol: f}\n", []string{`unknown field "x"`, `unknown field "<<"`}},
		{"control character in version", "apiVersion: killswitch/v1\nkind: Policy\nversion: \"a\\tb\"\nentries: []\n", []string{"control character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc), testCatalog)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if p != nil {
				t.Errorf("returned a policy with the error")
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error lacks %q (in order):\n%s", w, msg)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestParseNoCatalog(t *testing.T) {
	_, err := Parse([]byte(header+"entries:\n  - cve: CVE-2026-31431\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "this build has no CVE catalog") {
		t.Fatalf("got %v", err)
	}
}

func TestSelect(t *testing.T) {
	doc := header + `entries:
  - name: always
    symbol: a
    retval: -1
  - name: old
    symbol: b
    retval: -1
    expires: 2026-05-01T00:00:00Z
  - name: later
    symbol: c
    retval: -1
    expires: 2026-07-01T00:00:00+02:00
  - name: debian61
    symbol: d
    retval: -1
    kernel:
      release: ["6.1.0-*-amd64"]
      version: ">=6.1 <6.1.200"
  - name: v612
    symbol: d
    retval: -2
    kernel: {version: "6.12"}
  - cve: CVE-2026-43284
`
	p, err := Parse([]byte(doc), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		kernel  Kernel
		now     time.Time
		targets string
		skipped string
		next    time.Time
	}{
		{"debian 6.1", Kernel{"6.1.0-56-amd64", ver(6, 1, 192)}, now, "a c d esp_input esp6_input", "old:expired v612:not-selected",
			time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC)},
		{"debian 6.1 fixed", Kernel{"6.1.0-60-amd64", ver(6, 1, 201)}, now, "a c", "old:expired debian61:not-selected v612:not-selected CVE-2026-43284:fixed",
			time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC)},
		{"6.12", Kernel{"6.12.117+deb12-amd64", ver(6, 12, 117)}, now, "a c d", "old:expired debian61:not-selected CVE-2026-43284:fixed",
			time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC)},
		{"after expiry", Kernel{"6.12.1", ver(6, 12, 1)}, time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC), "a d",
			"old:expired later:expired debian61:not-selected CVE-2026-43284:fixed", time.Time{}},
		{"unknown version", Kernel{Release: "weird"}, now, "a c esp_input esp6_input", "old:expired debian61:not-selected v612:not-selected",
			time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := p.Select(tt.kernel, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			var syms, skipped []string
			for _, tg := range s.Targets {
				syms = append(syms, tg.Symbol)
			}
			for _, sk := range s.Skipped {
				skipped = append(skipped, sk.Entry+":"+string(sk.Reason))
			}
			if got := strings.Join(syms, " "); got != tt.targets {
				t.Errorf("targets %q, want %q", got, tt.targets)
			}
			if got := strings.Join(skipped, " "); got != tt.skipped {
				t.Errorf("skipped %q, want %q", got, tt.skipped)
			}
			if !s.Next.Equal(tt.next) {
				t.Errorf("next %v, want %v", s.Next, tt.next)
			}
		})
	}
}

func TestSelectOverlap(t *testing.T) {
	doc := header + `entries:
  - {name: a, symbol: f, retval: -1, kernel: {version: ">=6.1"}}
  - {name: b, symbol: f, retval: -2, kernel: {release: "6.1.*"}}
`
	p, err := Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Select(Kernel{"6.12.1", ver(6, 12, 1)}, time.Now()); err != nil {
		t.Errorf("only a applies on 6.12: %v", err)
	}
	_, err = p.Select(Kernel{"6.1.0-56-amd64", ver(6, 1, 192)}, time.Now())
	if err == nil || !strings.Contains(err.Error(), `entries "a" and "b" both engage f`) {
		t.Errorf("overlap on 6.1: %v", err)
	}
}
