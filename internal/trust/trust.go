package trust

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/killswitch/killswitch/internal/kmod"
	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
	"github.com/killswitch/killswitch/internal/rootfile"
)

// Level is how far the node trusts its policy.
type Level string

// The trust levels, from the narrowest.
const (
	LevelCatalog   Level = "catalog"
	LevelAllowlist Level = "allowlist"
	LevelAny       Level = "any"
)

// Levels lists them, for flags' help and metrics.
var Levels = []Level{LevelCatalog, LevelAllowlist, LevelAny}

// ParseLevel reads a level as given on the command line.
func ParseLevel(s string) (Level, error) {
	for _, l := range Levels {
		if s == string(l) {
			return l, nil
		}
	}
	return "", fmt.Errorf("trust level %q: want catalog (reviewed CVE entries only, the default), allowlist (also the symbols in --trust-allowlist) or any (whatever the policy says)", s)
}

// Reasons a Refusal gives, as the refused-entries metric labels them.
const (
	ReasonSymbol = "raw-symbol" // a symbol entry the level does not allow
	ReasonRetval = "retval"     // an allowlisted symbol with a retval the allowlist does not list
	ReasonModule = "module"     // a module load the level does not allow
)

// Reasons lists them, for metrics that export each.
var Reasons = []string{ReasonSymbol, ReasonRetval, ReasonModule}

// Refusal is one thing a policy entry asked that this node does not allow.
type Refusal struct {
	Entry  string
	Symbol string
	Reason string
	// Message names the thing, the reason and the way out.
	Message string
}

func (r Refusal) String() string { return r.Message }

// Rules is the trust policy in force: a level, and the allowlist for
// LevelAllowlist.
type Rules struct {
	Level     Level
	Allowlist *Allowlist
}

// Validate checks the rules are complete: LevelAllowlist needs its file.
func (r Rules) Validate() error {
	if _, err := ParseLevel(string(r.Level)); err != nil {
		return err
	}
	if r.Level == LevelAllowlist && r.Allowlist == nil {
		return fmt.Errorf("trust level allowlist needs the allowlist file: pass --trust-allowlist=/etc/killswitch/allowlist (a root-owned file, one \"symbol <name>\" or \"module <name>\" per line)")
	}
	return nil
}

// Check judges every target of every entry of p; a refused entry must not
// be applied at all (nothing of it), so callers refuse the whole entry
// when any of its targets is refused.
func (r Rules) Check(p *policy.Policy) []Refusal {
	var out []Refusal
	for _, e := range p.Entries {
		for _, t := range e.Targets {
			out = append(out, r.CheckTarget(t)...)
		}
	}
	return out
}

// CheckTarget judges one target as the policy asks it.
func (r Rules) CheckTarget(t policy.Target) []Refusal {
	if r.Level == LevelAny {
		return nil
	}
	var out []Refusal
	refuse := func(reason, format string, args ...any) {
		out = append(out, Refusal{Entry: t.Entry, Symbol: t.Symbol, Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	if t.CVE == "" {
		switch {
		case r.Level == LevelCatalog:
			refuse(ReasonSymbol, "entry %s: symbol %s is not a catalog entry, and this node's trust level is catalog: refused (name the CVE with cve:, or have the node's root list %s in the trust allowlist and run killswitchd --trust=allowlist)",
				t.Entry, t.Symbol, t.Symbol)
		case !r.Allowlist.Symbol(t.Symbol):
			refuse(ReasonSymbol, "entry %s: symbol %s is not in this node's trust allowlist %s: refused (name the CVE with cve:, or have the node's root add \"symbol %s\" to it)",
				t.Entry, t.Symbol, r.Allowlist.Path, t.Symbol)
		case t.Verb != ksfs.VerbObserve && !r.Allowlist.Retval(t.Symbol, t.Retval):
			refuse(ReasonRetval, "entry %s: %s may return only %s by this node's trust allowlist %s, not %s: refused (use one of those, or have the node's root list the value)",
				t.Entry, t.Symbol, r.Allowlist.retvals(t.Symbol), r.Allowlist.Path, ksfs.FormatRetval(t.Retval))
		}
	}
	if t.Load && t.Module != "" {
		if err := r.ModuleLoad(t, t.Module); err != nil {
			refuse(ReasonModule, "%v", err)
		}
	}
	return out
}

// ModuleLoad says whether t may have module loaded: under LevelCatalog a
// module its catalog entry names, under LevelAllowlist also one the
// allowlist names.
func (r Rules) ModuleLoad(t policy.Target, module string) error {
	switch {
	case r.Level == LevelAny:
		return nil
	case slices.Contains(t.CatalogModules, module):
		return nil
	case r.Level == LevelAllowlist && r.Allowlist.Module(module):
		return nil
	}
	how := "have the node's root list it in the trust allowlist and run killswitchd --trust=allowlist, or load it by hand"
	if r.Level == LevelAllowlist {
		how = "have the node's root add \"module " + module + "\" to " + r.Allowlist.Path + ", or load it by hand"
	}
	what := "no catalog entry names it"
	if t.CVE != "" {
		what = "catalog entry " + t.CVE + " does not name it"
	}
	return fmt.Errorf("entry %s: loading module %s is not allowed on this node (trust level %s, and %s): refused (%s)", t.Entry, module, r.Level, what, how)
}

// Allowlist is the node's list of symbols and modules a policy may name
// beyond the catalog under LevelAllowlist.
type Allowlist struct {
	// Path is where it was read from, for messages.
	Path    string
	symbols map[string][]int64 // nil slice: any retval
	modules map[string]bool
}

// Symbol reports whether the allowlist names sym.
func (a *Allowlist) Symbol(sym string) bool {
	if a == nil {
		return false
	}
	_, ok := a.symbols[sym]
	return ok
}

// Retval reports whether sym may return rv.
func (a *Allowlist) Retval(sym string, rv int64) bool {
	if a == nil {
		return false
	}
	vals, ok := a.symbols[sym]
	return ok && (vals == nil || slices.Contains(vals, rv))
}

func (a *Allowlist) retvals(sym string) string {
	var s []string
	for _, v := range a.symbols[sym] {
		s = append(s, ksfs.FormatRetval(v))
	}
	return strings.Join(s, ", ")
}

// Module reports whether the allowlist names module (- and _ are one).
func (a *Allowlist) Module(module string) bool {
	return a != nil && a.modules[strings.ReplaceAll(module, "-", "_")]
}

// LoadAllowlist reads the allowlist at path, which must be a file of owner
// (rootfile.Root for the agent) that no one else may write (rootfile.Open).
func LoadAllowlist(path string, owner int) (*Allowlist, error) {
	f, err := rootfile.Open("trust allowlist", path, owner)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limited{r: f, n: maxFile}); err != nil {
		return nil, fmt.Errorf("trust allowlist %s: %w", path, err)
	}
	return ParseAllowlist(buf.Bytes(), path)
}

// ParseAllowlist reads an allowlist: one item a line, # starts a comment.
//
//	symbol <name> [<retval>...]   the symbol may be engaged (observed), with
//	                              any retval or only those listed
//	module <name>                 load: true may load the module
func ParseAllowlist(data []byte, path string) (*Allowlist, error) {
	a := &Allowlist{Path: path, symbols: map[string][]int64{}, modules: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("trust allowlist %s: line %d: %s", path, n, fmt.Sprintf(format, args...))
		}
		switch {
		case f[0] == "symbol" && len(f) >= 2:
			if err := ksfs.ValidateSymbol(f[1]); err != nil {
				return nil, bad("%v", err)
			}
			var vals []int64
			for _, v := range f[2:] {
				rv, err := ksfs.ParseRetval(v)
				if err != nil {
					return nil, bad("%q is not a return value (a signed decimal or 0x-hex number such as -22)", v)
				}
				vals = append(vals, rv)
			}
			if old, dup := a.symbols[f[1]]; dup && (old == nil || vals == nil) {
				vals = nil
			} else if dup {
				vals = append(old, vals...)
			}
			a.symbols[f[1]] = vals
		case f[0] == "module" && len(f) == 2:
			if err := kmod.ValidateName(f[1]); err != nil {
				return nil, bad("%v", err)
			}
			a.modules[strings.ReplaceAll(f[1], "-", "_")] = true
		default:
			return nil, bad("%q: want \"symbol <name> [<retval>...]\" or \"module <name>\"", strings.TrimSpace(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trust allowlist %s: %w", path, err)
	}
	return a, nil
}
