package preflight

import (
	"strings"
)

// Symbol is one function entry of /proc/kallsyms.
type Symbol struct {
	// Addr is the address as printed; zeros when kptr_restrict hides it.
	Addr string
	Name string
	// Module is the module holding it; empty for vmlinux.
	Module string
}

// Where says where the symbol lives, for people.
func (s Symbol) Where() string {
	where := "vmlinux"
	if s.Module != "" {
		where = "module " + s.Module
	}
	if strings.Trim(s.Addr, "0") != "" {
		where += " at 0x" + s.Addr
	}
	return where
}

// Lookup is what kallsyms says about a name.
type Lookup struct {
	// Entries are the functions with exactly that name, in kallsyms
	// order: the kernel resolves the name to the first.
	Entries []Symbol
	// Clones are compiler-generated variants such as name.isra.0 or
	// name.constprop.0, which is what callers call when GCC cloned it.
	Clones []Symbol
}

// cloneSuffixes are GCC's names for specialised copies of a function.
// ".cold" (the unlikely part split off a function) is not callable and
// is left out.
var cloneSuffixes = []string{".isra.", ".constprop.", ".part.", ".llvm."}

// ParseKallsyms finds name in the content of /proc/kallsyms ("<addr>
// <type> <name>[\t[<module>]]"). Only text symbols count. If module is
// not empty, only that module's entries count.
func ParseKallsyms(data, name, module string) Lookup {
	var l Lookup
	for len(data) > 0 {
		var line string
		line, data, _ = strings.Cut(data, "\n")
		// Cheap filter first: the file has ~100k lines.
		if !strings.Contains(line, name) {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || len(f[1]) != 1 || !strings.ContainsAny(f[1], "tTwW") {
			continue
		}
		s := Symbol{Addr: f[0], Name: f[2]}
		if len(f) >= 4 {
			s.Module = strings.Trim(f[3], "[]")
		}
		if module != "" && s.Module != module {
			continue
		}
		switch {
		case s.Name == name:
			l.Entries = append(l.Entries, s)
		case isClone(s.Name, name):
			l.Clones = append(l.Clones, s)
		}
	}
	return l
}

func isClone(sym, name string) bool {
	rest, ok := strings.CutPrefix(sym, name)
	if !ok {
		return false
	}
	for _, suf := range cloneSuffixes {
		if strings.HasPrefix(rest, suf) {
			return true
		}
	}
	return false
}

// baseName strips a "module:" prefix and a clone suffix:
// "mod:name.constprop.0" → "name". The module's guard does the same
// (ks_base_name in kernel/ks_guard.c).
func baseName(sym string) string {
	if i := strings.IndexByte(sym, ':'); i >= 0 {
		sym = sym[i+1:]
	}
	if i := strings.IndexAny(sym, ".@"); i >= 0 {
		sym = sym[:i]
	}
	return sym
}

// splitModule splits "module:name" into its parts.
func splitModule(sym string) (module, name string) {
	if m, n, ok := strings.Cut(sym, ":"); ok {
		return m, n
	}
	return "", sym
}

// moduleOfSymbol looks name up in modules.symbols, which lists the
// exported symbols of every installed module ("alias symbol:<name>
// <module>"). Static functions are not listed.
func moduleOfSymbol(modulesSymbols, name string) string {
	needle := "alias symbol:" + name + " "
	for _, line := range strings.Split(modulesSymbols, "\n") {
		if strings.HasPrefix(line, needle) {
			return strings.TrimSpace(strings.TrimPrefix(line, needle))
		}
	}
	return ""
}
