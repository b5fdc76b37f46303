package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The catalog covers the 81 CVEs of the project's data set.
const wantEntries = 81

func TestEmbeddedCatalog(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	entries := c.Entries()
	if len(entries) != wantEntries {
		t.Errorf("catalog has %d entries, want %d", len(entries), wantEntries)
	}
	verbs := map[Verb]int{}
	for _, e := range entries {
		verbs[e.Verb]++
		if strings.Contains(e.Effect+e.WhyNone, "UNREVIEWED") {
			t.Errorf("%s: effect not reviewed", e.ID)
		}
		for _, tg := range e.Targets {
			for _, k := range []string{"6.1", "6.12"} {
				p, ok := tg.Kernels[k]
				if !ok {
					t.Errorf("%s: %s: no record for kernel %s", e.ID, tg.Symbol, k)
				}
				if p.Present && p.Module != "" && tg.Module != "" && p.Module != tg.Module {
					t.Errorf("%s: %s: module %s on %s, but the target says %s", e.ID, tg.Symbol, p.Module, k, tg.Module)
				}
			}
			if tg.Module != "" && !containsModule(e.Modules, tg.Module) {
				t.Errorf("%s: %s is in module %s, which modules does not list", e.ID, tg.Symbol, tg.Module)
			}
		}
		if e.Verb == VerbEngageBPF {
			src := filepath.Join("..", "..", "mitigations", strings.TrimSuffix(e.BPFObject, ".o")+".c")
			if _, err := os.Stat(src); err != nil {
				t.Errorf("%s: BPF program source: %v", e.ID, err)
			}
			if e.Filter != "uid!=0" {
				t.Errorf("%s: engagebpf with filter %q: the BPF programs override for uid != 0", e.ID, e.Filter)
			}
		}
	}
	if verbs[VerbEngageBPF] != 9 {
		t.Errorf("%d engagebpf entries, want the nine BPF programs in mitigations/", verbs[VerbEngageBPF])
	}
	for _, id := range []string{"CVE-2026-31431", "cve-2026-43284"} {
		if _, err := c.Lookup(id); err != nil {
			t.Error(err)
		}
	}
	if _, err := c.Lookup("CVE-1999-0001"); err == nil || !strings.Contains(err.Error(), "mitigations list") {
		t.Errorf("Lookup of an unknown CVE: %v", err)
	}
}

func containsModule(list []string, m string) bool {
	for _, x := range list {
		if strings.ReplaceAll(x, "-", "_") == strings.ReplaceAll(m, "-", "_") {
			return true
		}
	}
	return false
}

const goodEntry = `
  - id: CVE-2026-00001
    summary: "x: y"
    verb: engage
    targets:
      - symbol: f
        retval: -1
        returns: int
        kernels:
          "6.1": {present: true}
          "6.12": {present: false, why: feature-absent, detail: "added in 6.13"}
    affected: ["6.1 <= v < 6.1.100"]
    fixed_in: ["6.1.100"]
    effect: "f stops; the rest works"
    reviewed: "test"
`

func TestParseRejects(t *testing.T) {
	if _, err := Parse([]byte("entries:" + goodEntry)); err != nil {
		t.Fatalf("good entry: %v", err)
	}
	for _, tc := range []struct {
		name, old, new, says string
	}{
		{"bad id", "CVE-2026-00001", "CVE-26-1", "is not CVE-YYYY-NNNN"},
		{"bad verb", "verb: engage", "verb: zap", "want engage, tryengage, engagebpf or none"},
		{"none with targets", "verb: engage", "verb: none", "verb none takes no targets"},
		{"bad symbol", "symbol: f", "symbol: f-g", "cannot be part of a kernel symbol"},
		{"void retval", "returns: int", "returns: void", "returns void"},
		{"pointer retval", "retval: -1\n        returns: int", "retval: 5\n        returns: \"struct x *\"", "neither NULL nor an errno"},
		{"bad range", "6.1 <= v < 6.1.100", "6.2 <= v < 6.1", "empty"},
		{"fix inside range", `fixed_in: ["6.1.100"]`, `fixed_in: ["6.1.50"]`, "inside the affected range"},
		{"absent without why", "why: feature-absent, ", "", "is not one of"},
		{"no effect", `effect: "f stops; the rest works"`, `effect: ""`, "effect is empty"},
		{"not reviewed", `reviewed: "test"`, `reviewed: ""`, "reviewed is empty"},
		{"unknown field", "    reviewed:", "    colour: red\n    reviewed:", "not found in type"},
		{"probe on engage", "    affected:", "    probe_seconds: 5\n    affected:", "probe_seconds is for tryengage"},
		{"bad filter", "    affected:", "    filter: \"gid=0\"\n    affected:", "filter"},
		{"no ranges, unexplained", `affected: ["6.1 <= v < 6.1.100"]`, `affected: []`, "give ranges"},
	} {
		doc := "entries:" + strings.Replace(goodEntry, tc.old, tc.new, 1)
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.says)
		}
	}
	if _, err := Parse([]byte("entries:" + goodEntry + goodEntry)); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestAffectedAt(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, version     string
		affected, known bool
	}{
		{"CVE-2025-21700", "6.1.128", true, true},
		{"CVE-2025-21700", "6.1.129", false, true},
		{"CVE-2025-21700", "6.1.192", false, true},
		{"CVE-2025-21700", "6.14", false, true},
		{"CVE-2025-21700", "5.8.1", true, true}, // EOL branch between fixes
		{"CVE-2026-43490", "6.12.87", true, true},
		{"CVE-2026-43490", "6.12.117", false, true},
		{"CVE-2026-43490", "7.1-rc2", true, true},
		{"CVE-2026-43490", "7.1-rc3", false, true},
		{"CVE-2026-31431", "6.1.192", true, true},
		{"CVE-2026-43437", "6.1.192", false, false},
	} {
		e, err := c.Lookup(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		affected, known := e.AffectedAt(mustVersion(t, tc.version))
		if affected != tc.affected || known != tc.known {
			t.Errorf("%s at %s: affected %t known %t, want %t %t (ranges %v)", tc.id, tc.version, affected, known, tc.affected, tc.known, e.Affected)
		}
	}
}

// A dash with nothing after it decodes to a nil entry (found by FuzzParse:
// it panicked).
func TestParseEmptyEntry(t *testing.T) {
	_, err := Parse([]byte("entries:\n  -\n"))
	if err == nil || !strings.Contains(err.Error(), "entry 1 is empty") {
		t.Fatalf("Parse of an empty entry: %v, want an error naming entry 1", err)
	}
}
