package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// Request is what to check.
type Request struct {
	Symbol string
	// Retval is the value to return; nil to check the symbol alone.
	Retval *int64
	// Filters are the engagement's caller filters.
	Filters []ksfs.Filter
	// Observe checks for observe: nothing is overridden, so the return
	// type, the guard rails and lockdown do not matter.
	Observe bool
	// Force turns the CLI's own refusals (Finding.Forceable) into
	// warnings.
	Force bool
	// Module is the module the symbol is expected in (a catalog entry's
	// kmod, or --module), so that an unloaded module is named.
	Module string
}

// Check judges an engagement before it is made. It never fails: a fact it
// cannot read becomes a skipped finding.
func (h *Host) Check(req Request) *Report {
	r := &Report{Symbol: req.Symbol, Retval: req.Retval}
	sym := req.Symbol
	if err := ksfs.ValidateSymbol(sym); err != nil {
		r.add(Finding{Check: "symbol", Verdict: Refuse, Message: err.Error(), Fix: "give the function's name as /proc/kallsyms shows it"})
		return r
	}
	for _, f := range req.Filters {
		if err := f.Validate(); err != nil {
			r.add(Finding{Check: "filter", Verdict: Refuse, Message: err.Error()})
		}
	}
	if len(req.Filters) > ksfs.MaxFilters {
		r.add(Finding{Check: "filter", Verdict: Refuse,
			Message: fmt.Sprintf("%d filters: an engagement carries at most %d", len(req.Filters), ksfs.MaxFilters)})
	}

	if _, name := splitModule(sym); strings.HasPrefix(name, "__pfx_") {
		// CONFIG_CALL_PADDING (6.2+) names the padding before each
		// function; probing it would patch NOPs nobody calls.
		r.add(Finding{Check: "symbol", Verdict: Refuse,
			Message: name + " is the padding in front of " + strings.TrimPrefix(name, "__pfx_") + ", not a function",
			Fix:     "engage " + strings.TrimPrefix(name, "__pfx_")})
		return r
	}
	h.checkKernel(r, req)
	sym, found := h.checkKallsyms(r, req)
	if found {
		h.checkBTF(r, req, sym)
		h.checkTracing(r, sym)
	}
	if !req.Observe && req.Retval != nil {
		h.checkGuard(r, req)
	}
	return r
}

// checkKernel: config, kprobes switch, lockdown.
func (h *Host) checkKernel(r *Report, req Request) {
	if cfg, path, err := h.Config(); err != nil {
		r.add(Finding{Check: "kconfig", Verdict: Skip, Message: err.Error()})
	} else {
		if cfg["CONFIG_KPROBES"] != "y" {
			r.add(Finding{Check: "kconfig", Verdict: Refuse,
				Message: "the kernel is built without CONFIG_KPROBES (" + path + "), which killswitch needs",
				Fix:     "use a kernel with kprobes"})
		} else if cfg["CONFIG_KPROBES_ON_FTRACE"] != "y" {
			r.add(Finding{Check: "kconfig", Verdict: Warn,
				Message: "the kernel is built without CONFIG_KPROBES_ON_FTRACE (" + path + "): probes are breakpoints, slower on hot functions",
				Fix:     "prefer functions that are not on a hot path"})
		}
	}

	if b, err := h.fs.ReadFile(kprobesEnabled); err == nil && strings.TrimSpace(string(b)) == "0" {
		r.add(Finding{Check: "kprobes", Verdict: Refuse,
			Message: "kprobes are disabled globally: an engagement would be registered but never run",
			Fix:     "echo 1 > " + kprobesEnabled})
	}

	if req.Observe {
		return
	}
	b, err := h.fs.ReadFile(ksfs.LockdownFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		r.add(Finding{Check: "lockdown", Verdict: Skip, Message: "cannot read the lockdown level: " + err.Error()})
		return
	}
	level, err := ksfs.ParseLockdown(string(b))
	if err != nil {
		r.add(Finding{Check: "lockdown", Verdict: Skip, Message: err.Error()})
		return
	}
	if !level.AllowsRuntime() {
		fix := "under integrity, engage at module load: put it in the engage= module parameter (killswitch save) and reload the signed module"
		if !level.AllowsModparam() {
			fix = "under confidentiality nothing can be engaged; boot with a lower lockdown level"
		}
		r.add(Finding{Check: "lockdown", Verdict: Refuse,
			Message: "the kernel is locked down (" + string(level) + "): runtime engagement is refused", Fix: fix})
	}
}

// checkKallsyms finds the symbol; it returns the name to look up in BTF
// and tracing, and whether the symbol exists.
func (h *Host) checkKallsyms(r *Report, req Request) (string, bool) {
	// name@0x<address>: the one function of that name at that address.
	qualified, addr, byAddr := strings.Cut(req.Symbol, "@")
	module, name := splitModule(qualified)
	if module == "" {
		module = req.Module
	}
	if module != "" && !h.ModuleLoaded(module) {
		r.MissingModule = module
		r.add(Finding{Check: "module", Verdict: Refuse,
			Message: "symbol is in module " + module + ", which is not loaded",
			Fix:     "modprobe " + module + ", or pass --load"})
		return name, false
	}

	data, err := h.fs.ReadFile(kallsymsFile)
	if err != nil {
		r.Module = module
		r.add(Finding{Check: "kallsyms", Verdict: Skip, Message: "cannot read " + kallsymsFile + ": " + err.Error()})
		return name, true
	}
	onlyModule := ""
	if strings.Contains(req.Symbol, ":") {
		onlyModule = module
	}
	l := ParseKallsyms(string(data), name, onlyModule)
	if byAddr {
		want := strings.TrimLeft(strings.TrimPrefix(strings.ToLower(addr), "0x"), "0")
		var at []Symbol
		for _, s := range l.Entries {
			if strings.TrimLeft(strings.ToLower(s.Addr), "0") == want {
				at = append(at, s)
			}
		}
		if len(at) == 0 && len(l.Entries) > 0 {
			r.add(Finding{Check: "kallsyms", Verdict: Refuse,
				Message: fmt.Sprintf("no function named %s is at %s (kallsyms has it at %s)", name, addr, symbolWheres(l.Entries)),
				Fix:     "take the address from /proc/kallsyms as root"})
			return name, false
		}
		l.Entries = at
	}

	if len(l.Entries) == 0 {
		h.notFound(r, name, l)
		return name, false
	}
	first := l.Entries[0]
	r.Module = first.Module
	if len(l.Entries) == 1 {
		msg := "found in " + first.Where()
		if first.Module != "" {
			msg += "; the engagement is dropped (\"mitigation lost\" in the log) if " + first.Module + " unloads"
		}
		r.add(Finding{Check: "kallsyms", Verdict: OK, Message: msg})
	} else {
		var others []string
		for _, s := range l.Entries[1:] {
			others = append(others, s.Where())
		}
		r.add(Finding{Check: "kallsyms", Verdict: Refuse,
			Message: fmt.Sprintf("%d functions are named %s (static functions in different files): the module refuses a name that does not say which; the first is in %s; the others %s",
				len(l.Entries), name, first.Where(), strings.Join(others, ", ")),
			Fix: "qualify it as <module>:" + name + " for a module's function, or as " + name + "@0x<address> with the address /proc/kallsyms gives for the one you mean (engage each one you need)"})
	}
	if len(l.Clones) > 0 {
		r.add(Finding{Check: "kallsyms", Verdict: Warn,
			Message: fmt.Sprintf("compiler clones of %s exist (%s): callers of a clone bypass the original", name, symbolNames(l.Clones)),
			Fix:     "engage the clones too"})
	}
	if strings.Contains(name, ".") {
		r.add(Finding{Check: "kallsyms", Verdict: Warn,
			Message: name + " is a compiler clone: its arguments (and even its return) may differ from the C prototype",
			Fix:     "check the disassembly before relying on the return value or argument filters"})
	}
	return name, true
}

func (h *Host) notFound(r *Report, name string, l Lookup) {
	if len(l.Clones) > 0 {
		r.add(Finding{Check: "kallsyms", Verdict: Refuse,
			Message: fmt.Sprintf("%s does not exist as such: the compiler only left clones (%s)", name, symbolNames(l.Clones)),
			Fix:     "engage the exact clone name, e.g. " + l.Clones[0].Name})
		return
	}
	if rel, err := h.Release(); err == nil {
		if b, err := h.fs.ReadFile("/lib/modules/" + rel + "/modules.symbols"); err == nil {
			if mod := moduleOfSymbol(string(b), name); mod != "" && !h.ModuleLoaded(mod) {
				r.MissingModule = mod
				r.add(Finding{Check: "module", Verdict: Refuse,
					Message: "symbol is in module " + mod + ", which is not loaded",
					Fix:     "modprobe " + mod + ", or pass --load"})
				return
			}
		}
	}
	if spec, err := h.vmlinuxSpec(); err == nil {
		if fns, _ := findFuncs(spec, name); len(fns) > 0 {
			r.add(Finding{Check: "kallsyms", Verdict: Refuse,
				Message: name + " is in the kernel's BTF but not in kallsyms: it was inlined into its callers, so there is nothing to probe",
				Fix:     "engage a caller that is not inlined"})
			return
		}
	}
	r.add(Finding{Check: "kallsyms", Verdict: Refuse,
		Message: "no function " + name + " in kallsyms: misspelt, inlined away, or in a module that is not loaded",
		Fix:     "grep it in /proc/kallsyms; if it lives in a module, load it or name it with --module"})
}

func symbolNames(ss []Symbol) string {
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

func symbolWheres(ss []Symbol) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Where())
	}
	return strings.Join(out, ", ")
}

// checkBTF reads the prototype and judges retval and filters against it.
func (h *Host) checkBTF(r *Report, req Request, name string) {
	base := baseName(name)
	var spec *btf.Spec
	var err error
	where := "the kernel"
	if r.Module != "" {
		spec, err = h.moduleSpec(r.Module)
		where = "module " + r.Module
	} else {
		spec, err = h.vmlinuxSpec()
	}
	if err != nil {
		msg := "no BTF for " + where + ": the prototype is unchecked"
		if errors.Is(err, fs.ErrNotExist) && r.Module == "" {
			msg = "the kernel has no BTF (CONFIG_DEBUG_INFO_BTF off): the prototype is unchecked"
		} else if errors.Is(err, fs.ErrNotExist) {
			msg = "module " + r.Module + " has no BTF (built without pahole or without vmlinux): the prototype is unchecked"
		} else {
			msg += " (" + err.Error() + ")"
		}
		r.add(Finding{Check: "btf", Verdict: Warn, Message: msg,
			Fix: "check the return type and arguments of " + base + " in the source"})
		return
	}
	fns, err := findFuncs(spec, base)
	if err != nil {
		r.add(Finding{Check: "btf", Verdict: Skip, Message: "look up " + base + " in BTF: " + err.Error()})
		return
	}
	if len(fns) == 0 {
		r.add(Finding{Check: "btf", Verdict: Warn,
			Message: "no BTF prototype for " + base + " in " + where + " (assembly, or dropped by pahole): the return type is unchecked",
			Fix:     "check it in the source"})
		return
	}
	fn := fns[0]
	r.Prototype = Prototype(fn)
	for _, other := range fns[1:] {
		if p := Prototype(other); p != r.Prototype {
			r.add(Finding{Check: "btf", Verdict: Warn,
				Message: "BTF has several prototypes for " + base + ": " + r.Prototype + " and " + p,
				Fix:     "make sure the one the kernel engages takes the value you give"})
			break
		}
	}
	r.add(Finding{Check: "btf", Verdict: OK, Message: r.Prototype})

	if !req.Observe && req.Retval != nil {
		for _, f := range returnFindings(name, fn, *req.Retval, req.Force) {
			r.add(f)
		}
	}
	for _, f := range filterFindings(name, fn, req.Filters, req.Force) {
		r.add(f)
	}
	if proto, ok := fn.Type.(*btf.FuncProto); ok {
		for i, p := range proto.Params {
			if size, err := btf.Sizeof(p.Type); err == nil && size <= 4 {
				r.Int32Args = append(r.Int32Args, i+1)
			}
		}
	}
	for _, f := range req.Filters {
		if f.Arg > 0 && r.Int32Arg(f.Arg) && (f.Value < -1<<31 || f.Value > 1<<32-1) {
			r.add(Finding{Check: "filter", Verdict: Refuse,
				Message: fmt.Sprintf("filter %s: arg%d of %s is 32 bits wide, and %d does not fit it, so the filter could never match", f, f.Arg, base, f.Value),
				Fix:     "give a value within the argument's type"})
		}
	}
	if isSyscallWrapper(base) && hasArgFilter(req.Filters) {
		r.add(Finding{Check: "filter", Verdict: Refuse,
			Message: base + " is a syscall wrapper: its only argument is a struct pt_regs pointer, so argument filters cannot see the syscall's arguments",
			Fix:     "filter on the function behind it, e.g. " + syscallInner(base)})
	}
}

func isSyscallWrapper(name string) bool {
	for _, p := range []string{"__x64_sys_", "__ia32_sys_", "__arm64_sys_", "__ia32_compat_sys_", "__arm64_compat_sys_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func syscallInner(wrapper string) string {
	_, call, _ := strings.Cut(wrapper, "_sys_")
	return "__do_sys_" + call + " or __sys_" + call
}

func hasArgFilter(fs []ksfs.Filter) bool {
	for _, f := range fs {
		if f.Arg > 0 {
			return true
		}
	}
	return false
}

// checkTracing: ftrace's list and the kprobe blacklist.
func (h *Host) checkTracing(r *Report, name string) {
	var data []byte
	var err error
	for i, p := range filterFunctionFiles {
		var e error
		if data, e = h.fs.ReadFile(p); e == nil {
			err = nil
			break
		}
		if i == 0 {
			err = e
		}
	}
	switch {
	case err != nil:
		r.add(Finding{Check: "ftrace", Verdict: Skip,
			Message: "cannot read available_filter_functions (needs root and tracefs): " + err.Error()})
	case !ParseFilterFunctions(string(data), name, r.Module):
		r.add(Finding{Check: "ftrace", Verdict: Refuse,
			Message: name + " is not in available_filter_functions: ftrace does not manage it (notrace, assembly, or a section ftrace skips), and the module accepts only function entries ftrace manages",
			Fix:     "such functions are often notrace for a reason (early boot, entry code, NMI): target a traceable caller"})
	default:
		r.add(Finding{Check: "ftrace", Verdict: OK, Message: name + " is ftrace-traceable"})
	}

	data, err = h.fs.ReadFile(kprobeBlacklist)
	switch {
	case err != nil:
		r.add(Finding{Check: "blacklist", Verdict: Skip,
			Message: "cannot read the kprobe blacklist (needs root and debugfs): " + err.Error()})
	case ParseBlacklist(string(data), name):
		r.add(Finding{Check: "blacklist", Verdict: Refuse,
			Message: name + " is on the kprobe blacklist: the kernel refuses to probe it",
			Fix:     "engage a caller that is not on " + kprobeBlacklist})
	default:
		r.add(Finding{Check: "blacklist", Verdict: OK, Message: name + " is not on the kprobe blacklist"})
	}
}

// checkGuard mirrors the module's guard rails (GuardRefuses).
func (h *Host) checkGuard(r *Report, req Request) {
	guardOff := false
	if b, err := h.fs.ReadFile(guardParamFile); err == nil {
		v := strings.TrimSpace(string(b))
		guardOff = v == "N" || v == "0"
	}
	ignored := guardOff && h.lockedDown() // ks_guard_on
	if ignored {
		guardOff = false
	}
	rule, ok := GuardRuleFor(req.Symbol)
	if !ok {
		return
	}
	val := ksfs.FormatRetval(*req.Retval)
	what := req.Symbol + " is " + rule.What + " (guard rule " + rule.Pattern + ")"
	if rule.Class.Accepts(*req.Retval) {
		msg := what + ": " + val + " fails closed, which the guard allows"
		r.add(Finding{Check: "guard", Verdict: OK, Message: msg})
		return
	}
	var msg, failClosed string
	switch rule.Class {
	case GuardHazard:
		msg = what + ": the kernel or killswitch itself depends on it"
	case GuardIntegrity:
		msg = what + ": lockdown and Secure Boot rest on it, and no retval is safe"
	case GuardErrno:
		msg = what + ": " + val + " would make a security check pass without checking"
		failClosed = "use a negative errno from -4095 to -1, such as -1 (EPERM), to fail closed"
	case GuardYesNo:
		msg = what + ": " + val + " can read as \"true\" for a yes/no security check and grant without checking"
		failClosed = "use 0 to deny (fail closed)"
	case GuardEither:
		msg = what + ": such checks return an errno in some functions and a yes/no in others, and no retval fails closed for both"
	}
	f := Finding{Check: "guard", Verdict: Refuse, Message: msg,
		Fix: "load the module with guard=0 if you really mean it (not honoured under lockdown)"}
	if failClosed != "" {
		f.Fix = failClosed + ", or " + f.Fix
	}
	if guardOff {
		f.Verdict, f.Fix = Warn, ""
		f.Message += "; the guard is off (guard=0)"
	}
	if ignored {
		f.Message += "; the module ignores guard=0 under lockdown"
	}
	r.add(f)
}

// lockedDown reports whether the kernel runs under any lockdown level.
func (h *Host) lockedDown() bool {
	b, err := h.fs.ReadFile(ksfs.LockdownFile)
	if err != nil {
		return false
	}
	level, err := ksfs.ParseLockdown(string(b))
	return err == nil && level != ksfs.LockdownNone
}
