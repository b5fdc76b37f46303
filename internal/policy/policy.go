package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/killswitch/killswitch/internal/kmod"
	"github.com/killswitch/killswitch/internal/ksfs"
)

// Schema identifiers: a file must say both.
const (
	APIVersion = "killswitch/v1"
	Kind       = "Policy"
)

// Limits on what a file may hold.
const (
	MaxSize    = 1 << 20
	MaxEntries = 1024
	// maxName bounds names and versions: they become metric labels.
	maxName    = 64
	maxVersion = 128
)

// Policy is a parsed, valid policy file.
type Policy struct {
	// Version is the operator's revision of the policy ("2026-05-18.1"),
	// logged with every action and exported as a metric.
	Version string
	// Exclusive makes the policy the whole truth: engagements the agent
	// did not make are disengaged (or adopted, when the policy wants the
	// same symbol) too. Off by default: operators' own engagements are
	// left alone.
	Exclusive bool
	Entries   []Entry
}

// Entry is one item of the policy, resolved to its targets.
type Entry struct {
	// Name identifies the entry in logs and metrics: the CVE id or the
	// symbol unless given.
	Name string
	// CVE is set for entries resolved through the catalog.
	CVE string
	// Kernel selects the kernels the entry applies to.
	Kernel Selector
	// Expires is when the entry stops applying; zero for never.
	Expires time.Time
	// Targets are the engagements the entry asks for.
	Targets []Target
	// Line is where the entry starts in the file.
	Line int

	fixed func(Kernel) bool
}

// Target is one engagement a policy asks for.
type Target struct {
	// Entry is the name of the entry asking for it.
	Entry   string
	CVE     string
	Symbol  string
	Verb    ksfs.Verb
	Retval  int64
	Filters []ksfs.Filter
	// Probe is the tryengage window.
	Probe time.Duration
	// Module holds the symbol, if known.
	Module string
	// CatalogModules are the modules the catalog entry of a CVE target
	// names (its own Module among them): what the trust policy lets it
	// load. Empty for symbol entries.
	CatalogModules []string
	// Load has the agent modprobe Module when it is not loaded, so the
	// engagement is in place before anything loads the module on demand.
	Load bool
	// Force turns pre-flight refusals that are its own judgement (void
	// return, odd values) into warnings, like killswitch --force.
	Force bool
	// Adopt lets the agent take over an engagement of the symbol it did
	// not make, changing it to this target.
	Adopt bool
	// Expires is the entry's expiry; zero for never.
	Expires time.Time
}

// Command is the control command that makes the target.
func (t Target) Command() ksfs.Command {
	switch t.Verb {
	case ksfs.VerbObserve:
		return ksfs.Observe(t.Symbol)
	case ksfs.VerbTryEngage:
		return ksfs.TryEngage(t.Symbol, t.Retval, t.Probe, t.Filters...)
	default:
		return ksfs.Engage(t.Symbol, t.Retval, t.Filters...)
	}
}

// Problem is one thing wrong with a policy file.
type Problem struct {
	// Line is the 1-based line in the file, 0 when not known.
	Line int
	// Path names the field: entries[2].retval.
	Path    string
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is a rejected policy: every problem found, in file order.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid policy: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid policy: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// Parse reads a policy file strictly: one YAML document, only known fields,
// each once, every value checked; CVE ids are resolved through cat (nil
// for none). On any problem it returns an *Error listing all of them and
// no policy.
func Parse(data []byte, cat Catalog) (*Policy, error) {
	if cat == nil {
		cat = NoCatalog{}
	}
	p := &parser{cat: cat}
	pol := p.parse(data)
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
		return nil, &Error{Problems: p.problems}
	}
	return pol, nil
}

type parser struct {
	cat      Catalog
	problems []Problem
}

func (p *parser) problem(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.problems = append(p.problems, Problem{Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) parse(data []byte) *Policy {
	if len(data) > MaxSize {
		p.problem(nil, "", "the file is %d bytes, more than the %d a policy may have", len(data), MaxSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.problem(nil, "", "the file is empty: even an empty policy says apiVersion: %s, kind: %s, version and entries: []", APIVersion, Kind)
		} else {
			p.problem(nil, "", "not valid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		p.problem(&extra, "", "the file holds more than one YAML document: a policy is exactly one")
		return nil
	}
	root := resolve(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = resolve(root.Content[0])
	}

	pol := &Policy{}
	var apiVersion, kind string
	var haveVersion bool
	var entries *yaml.Node
	p.fields(root, "", []string{"apiVersion", "kind", "version", "exclusive", "entries"}, func(key string, v *yaml.Node, path string) {
		switch key {
		case "apiVersion":
			apiVersion, _ = p.str(v, path)
		case "kind":
			kind, _ = p.str(v, path)
		case "version":
			pol.Version, haveVersion = p.text(v, path, maxVersion)
		case "exclusive":
			pol.Exclusive, _ = p.boolean(v, path)
		case "entries":
			entries = v
		}
	})
	if len(p.problems) > 0 && root.Kind != yaml.MappingNode {
		return nil
	}
	switch {
	case apiVersion == "":
		p.problem(root, "apiVersion", "missing: say apiVersion: %s", APIVersion)
	case apiVersion != APIVersion:
		p.problem(root, "apiVersion", "%q is not a schema this agent reads (it reads %s): upgrade the agent, or write the policy for %s", apiVersion, APIVersion, APIVersion)
	}
	switch {
	case kind == "":
		p.problem(root, "kind", "missing: say kind: %s", Kind)
	case kind != Kind:
		p.problem(root, "kind", "%q is not %s", kind, Kind)
	}
	if !haveVersion {
		p.problem(root, "version", "missing: give the policy a version (any text, e.g. a date and a counter) so logs and metrics say which one is applied")
	}
	if entries == nil {
		p.problem(root, "entries", "missing: list the engagements, or write entries: [] to disengage everything the agent made")
		return pol
	}
	p.entries(entries, pol)
	return pol
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields walks a mapping, refusing keys that are not known or repeated.
func (p *parser) fields(n *yaml.Node, path string, known []string, each func(key string, v *yaml.Node, path string)) {
	n = resolve(n)
	where := path
	if where == "" {
		where = "the top level"
	}
	if n.Kind != yaml.MappingNode {
		p.problem(n, path, "%s must be a mapping of fields (%s)", where, strings.Join(known, ", "))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.problem(k, path, "a field name must be a plain word")
			continue
		}
		kpath := k.Value
		if path != "" {
			kpath = path + "." + k.Value
		}
		if line, dup := seen[k.Value]; dup {
			p.problem(k, kpath, "given twice (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		if !slices.Contains(known, k.Value) {
			p.problem(k, kpath, "unknown field %q (%s takes %s)", k.Value, where, strings.Join(known, ", "))
			continue
		}
		each(k.Value, v, kpath)
	}
}

func (p *parser) scalar(n *yaml.Node, path, want string) (*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		p.problem(n, path, "want %s, not a %s", want, nodeKind(n))
		return n, false
	}
	return n, true
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "value"
	}
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	n, ok := p.scalar(n, path, "a string")
	if !ok {
		return "", false
	}
	if n.Tag != "!!str" {
		p.problem(n, path, "want a string, not %s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
		return "", false
	}
	return n.Value, true
}

// text is free text: any scalar (a version may be written as a number),
// printable, at most max bytes.
func (p *parser) text(n *yaml.Node, path string, max int) (string, bool) {
	n, ok := p.scalar(n, path, "text")
	if !ok {
		return "", false
	}
	s := n.Value
	switch {
	case n.Tag == "!!null" || strings.TrimSpace(s) == "":
		p.problem(n, path, "must not be empty")
		return "", false
	case len(s) > max:
		p.problem(n, path, "%d characters, at most %d", len(s), max)
		return "", false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			p.problem(n, path, "%q holds a control character", s)
			return "", false
		}
	}
	return s, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	n, ok := p.scalar(n, path, "true or false")
	if !ok {
		return false, false
	}
	if n.Tag != "!!bool" {
		p.problem(n, path, "want true or false, not %q", n.Value)
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

func (p *parser) strings(n *yaml.Node, path string, oneOK bool) ([]*yaml.Node, bool) {
	n = resolve(n)
	if oneOK && n.Kind == yaml.ScalarNode {
		return []*yaml.Node{n}, true
	}
	if n.Kind != yaml.SequenceNode {
		p.problem(n, path, "want a list, not a %s", nodeKind(n))
		return nil, false
	}
	var out []*yaml.Node
	for i, item := range n.Content {
		item = resolve(item)
		if _, ok := p.str(item, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, item)
		}
	}
	return out, true
}

var (
	cveRE  = regexp.MustCompile(`^(?i:cve)-[0-9]{4}-[0-9]{4,7}$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
)

// rawEntry is an entry as written, before CVE resolution.
type rawEntry struct {
	line               int
	path               string
	name, cve, symbol  string
	verb               ksfs.Verb
	hasVerb            bool
	retval             int64
	hasRetval          bool
	probe              time.Duration
	hasProbe           bool
	filters            []ksfs.Filter
	hasFilters         bool
	module             string
	load, force, adopt bool
	kernel             Selector
	expires            time.Time
	nameNode, cveNode  *yaml.Node
}

var entryFields = []string{"name", "cve", "symbol", "retval", "verb", "probe", "filters", "module", "load", "force", "adopt", "kernel", "expires"}

func (p *parser) entries(n *yaml.Node, pol *Policy) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		p.problem(n, "entries", "empty: write entries: [] for a policy with no engagements")
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.problem(n, "entries", "want a list of entries, not a %s", nodeKind(n))
		return
	}
	if len(n.Content) > MaxEntries {
		p.problem(n, "entries", "%d entries, at most %d", len(n.Content), MaxEntries)
		return
	}
	names := map[string]int{}
	for i, item := range n.Content {
		before := len(p.problems)
		raw := p.entry(resolve(item), fmt.Sprintf("entries[%d]", i))
		if len(p.problems) > before {
			continue
		}
		e := p.resolveEntry(raw)
		if e == nil {
			continue
		}
		if line, dup := names[e.Name]; dup {
			p.problem(raw.nameNode, raw.path+".name", "%q is the name of the entry on line %d too: names must be unique (set name: on one of them)", e.Name, line)
			continue
		}
		names[e.Name] = e.Line
		pol.Entries = append(pol.Entries, *e)
	}
	p.sameSymbol(pol)
}

func (p *parser) entry(n *yaml.Node, path string) *rawEntry {
	r := &rawEntry{line: n.Line, path: path, nameNode: n}
	p.fields(n, path, entryFields, func(key string, v *yaml.Node, fpath string) {
		switch key {
		case "name":
			if s, ok := p.str(v, fpath); ok {
				r.nameNode = resolve(v)
				if len(s) > maxName || !nameRE.MatchString(s) {
					p.problem(v, fpath, "%q: want 1..%d letters, digits and . _ : - (it becomes a metric label)", s, maxName)
				}
				r.name = s
			}
		case "cve":
			if s, ok := p.str(v, fpath); ok {
				r.cveNode = resolve(v)
				if !cveRE.MatchString(s) {
					p.problem(v, fpath, "%q is not a CVE id such as CVE-2026-31431", s)
				}
				r.cve = strings.ToUpper(s)
			}
		case "symbol":
			if s, ok := p.str(v, fpath); ok {
				if err := ksfs.ValidateSymbol(s); err != nil {
					p.problem(v, fpath, "%v", err)
				}
				r.symbol = s
			}
		case "retval":
			if sv, ok := p.scalar(v, fpath, "a number"); ok {
				rv, err := ksfs.ParseRetval(sv.Value)
				if err != nil || (sv.Tag != "!!int" && sv.Tag != "!!str") {
					p.problem(v, fpath, "%q is not a return value: want a signed decimal or 0x-hex number such as -1 or -0x16", sv.Value)
				}
				r.retval, r.hasRetval = rv, true
			}
		case "verb":
			if s, ok := p.str(v, fpath); ok {
				r.verb, r.hasVerb = ksfs.Verb(s), true
				switch r.verb {
				case ksfs.VerbEngage, ksfs.VerbTryEngage, ksfs.VerbObserve:
				case ksfs.VerbEngageBPF:
					p.problem(v, fpath, "engagebpf is not something the agent does: use verb: engage with filters (e.g. filters: [\"uid!=0\"]), which needs no BPF")
				default:
					p.problem(v, fpath, "%q is not engage, tryengage or observe", s)
				}
			}
		case "probe":
			if sv, ok := p.scalar(v, fpath, "a probe time"); ok {
				d, err := ksfs.ParseProbe(sv.Value)
				if err != nil || (sv.Tag != "!!int" && sv.Tag != "!!str") {
					p.problem(v, fpath, "%q: want seconds (0..86400) or a duration such as 90s or 5m", sv.Value)
				}
				r.probe, r.hasProbe = d, true
			}
		case "filters":
			items, ok := p.strings(v, fpath, false)
			r.hasFilters = true
			if !ok {
				return
			}
			if len(items) > ksfs.MaxFilters {
				p.problem(v, fpath, "%d filters: an engagement carries at most %d", len(items), ksfs.MaxFilters)
				return
			}
			for i, item := range items {
				f, err := ksfs.ParseFilter(item.Value)
				if err != nil {
					p.problem(item, fmt.Sprintf("%s[%d]", fpath, i), "%v", err)
					continue
				}
				r.filters = append(r.filters, f)
			}
		case "module":
			if s, ok := p.str(v, fpath); ok {
				if err := kmod.ValidateName(s); err != nil {
					p.problem(v, fpath, "%v", err)
				}
				r.module = s
			}
		case "load":
			r.load, _ = p.boolean(v, fpath)
		case "force":
			r.force, _ = p.boolean(v, fpath)
		case "adopt":
			r.adopt, _ = p.boolean(v, fpath)
		case "kernel":
			r.kernel = p.selector(v, fpath)
		case "expires":
			if sv, ok := p.scalar(v, fpath, "a time"); ok {
				t, err := time.Parse(time.RFC3339, sv.Value)
				if err != nil || (sv.Tag != "!!timestamp" && sv.Tag != "!!str") {
					p.problem(v, fpath, "%q: want an RFC 3339 time with its zone, such as 2026-07-01T00:00:00Z", sv.Value)
				}
				r.expires = t
			}
		}
	})
	if n.Kind != yaml.MappingNode {
		return r
	}
	p.checkEntry(n, r)
	return r
}

// checkEntry applies the rules between fields.
func (p *parser) checkEntry(n *yaml.Node, r *rawEntry) {
	path := r.path
	switch {
	case r.cve == "" && r.symbol == "":
		p.problem(n, path, "say what to engage: cve: CVE-... (from the catalog), or symbol: with retval:")
		return
	case r.cve != "" && r.symbol != "":
		p.problem(n, path, "give cve or symbol, not both: a CVE entry takes its symbols from the catalog")
		return
	}
	if r.cve != "" {
		for _, f := range []struct {
			has  bool
			name string
		}{{r.hasRetval, "retval"}, {r.hasFilters, "filters"}, {r.module != "", "module"}} {
			if f.has {
				p.problem(n, path+"."+f.name, "a CVE entry takes %s from the catalog: to change it, write a symbol entry instead", f.name)
			}
		}
		if r.hasVerb && r.verb == ksfs.VerbObserve {
			p.problem(n, path+".verb", "a CVE entry engages: verb is engage or tryengage")
		}
		return
	}
	if !r.hasVerb {
		r.verb = ksfs.VerbEngage
	}
	switch r.verb {
	case ksfs.VerbEngage, ksfs.VerbTryEngage:
		if !r.hasRetval {
			p.problem(n, path+".retval", "missing: %s needs the value %s should return (a negative errno such as -1 is usual)", r.verb, r.symbol)
		}
	case ksfs.VerbObserve:
		for _, f := range []struct {
			has  bool
			name string
		}{{r.hasRetval, "retval"}, {r.hasFilters, "filters"}, {r.hasProbe, "probe"}, {r.force, "force"}} {
			if f.has {
				p.problem(n, path+"."+f.name, "observe overrides nothing, so it takes no %s", f.name)
			}
		}
	}
	if r.verb == ksfs.VerbTryEngage && !r.hasProbe {
		p.problem(n, path+".probe", "missing: tryengage needs a probe time such as 5m")
	}
	if r.verb == ksfs.VerbEngage && r.hasProbe {
		p.problem(n, path+".probe", "engage has no probe: use verb: tryengage to probe first")
	}
	if r.load && r.module == "" {
		p.problem(n, path+".load", "load: true needs module: (the module that holds %s)", r.symbol)
	}
}

func (p *parser) selector(n *yaml.Node, path string) Selector {
	var s Selector
	p.fields(n, path, []string{"release", "version"}, func(key string, v *yaml.Node, fpath string) {
		switch key {
		case "release":
			items, _ := p.strings(v, fpath, true)
			if resolve(v).Kind == yaml.ScalarNode && resolve(v).Tag != "!!str" {
				p.problem(v, fpath, "want a glob such as \"6.1.0-*-amd64\" or a list of them")
				return
			}
			for _, item := range items {
				if _, err := pathMatch(item.Value); err != nil || item.Value == "" {
					p.problem(item, fpath, "%q is not a valid glob", item.Value)
					continue
				}
				s.Releases = append(s.Releases, item.Value)
			}
		case "version":
			sv, ok := p.scalar(v, fpath, "a version constraint")
			if !ok {
				return
			}
			c, err := ParseConstraint(sv.Value)
			if err != nil {
				p.problem(v, fpath, "%v", err)
				return
			}
			s.Version = &c
		}
	})
	return s
}

// resolveEntry turns a raw entry into its targets, through the catalog for
// a CVE.
func (p *parser) resolveEntry(r *rawEntry) *Entry {
	e := &Entry{Name: r.name, CVE: r.cve, Kernel: r.kernel, Expires: r.expires, Line: r.line}
	if r.cve == "" {
		if e.Name == "" {
			e.Name = r.symbol
		}
		e.Targets = []Target{{
			Entry: e.Name, Symbol: r.symbol, Verb: r.verb, Retval: r.retval, Filters: r.filters,
			Probe: r.probe, Module: r.module, Load: r.load, Force: r.force, Adopt: r.adopt, Expires: r.expires,
		}}
		return e
	}

	if e.Name == "" {
		e.Name = r.cve
	}
	m, err := p.cat.Mitigation(r.cve)
	if err != nil {
		p.problem(r.cveNode, r.path+".cve", "%s: %v", r.cve, err)
		return nil
	}
	if len(m.Actions) == 0 {
		p.problem(r.cveNode, r.path+".cve", "%s: the catalog has no runtime mitigation for it", r.cve)
		return nil
	}
	e.fixed = m.Fixed
	for _, a := range m.Actions {
		t := Target{
			Entry: e.Name, CVE: r.cve, Symbol: a.Symbol, Verb: a.Verb, Retval: a.Retval, Filters: a.Filters,
			Probe: a.Probe, Module: a.Module, Load: r.load, Force: r.force, Adopt: r.adopt, Expires: r.expires,
		}
		for _, mod := range append([]string{a.Module}, m.Modules...) {
			if mod != "" && !slices.Contains(t.CatalogModules, mod) {
				t.CatalogModules = append(t.CatalogModules, mod)
			}
		}
		if r.hasVerb {
			t.Verb = r.verb
		}
		if r.hasProbe && t.Verb == ksfs.VerbTryEngage {
			t.Probe = r.probe
		}
		if t.Verb == ksfs.VerbEngage {
			t.Probe = 0
		}
		if err := t.Command().Validate(); err != nil {
			p.problem(r.cveNode, r.path+".cve", "%s: catalog action on %s: %v", r.cve, a.Symbol, err)
			return nil
		}
		if t.Verb == ksfs.VerbTryEngage && t.Probe == 0 && !r.hasProbe {
			p.problem(r.cveNode, r.path+".probe", "%s: the catalog gives no probe time for %s: set probe:", r.cve, a.Symbol)
			return nil
		}
		e.Targets = append(e.Targets, t)
	}
	return e
}

// sameSymbol refuses two entries that engage one symbol on the same
// kernels. Entries with different selectors may name the same symbol
// (another retval on another kernel); Select refuses them if both apply.
func (p *parser) sameSymbol(pol *Policy) {
	type seen struct {
		entry string
		line  int
	}
	first := map[string]seen{}
	for _, e := range pol.Entries {
		for _, t := range e.Targets {
			key := t.Symbol + "\x00" + e.Kernel.String()
			if s, dup := first[key]; dup && s.entry != e.Name {
				p.problem(&yaml.Node{Line: e.Line}, "entries", "entries %q (line %d) and %q both engage %s on %s: keep one, or give them kernel selectors that do not overlap",
					s.entry, s.line, e.Name, t.Symbol, e.Kernel)
				continue
			}
			first[key] = seen{e.Name, e.Line}
		}
	}
}
