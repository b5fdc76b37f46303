package ksfs

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Sentinel errors; a *CommandError wraps one of them and the errno.
var (
	// ErrModuleNotLoaded: the securityfs tree is missing.
	ErrModuleNotLoaded = errors.New("killswitch module not loaded")
	// ErrAlreadyEngaged: EBUSY, the symbol is engaged, probing or observed.
	ErrAlreadyEngaged = errors.New("already engaged")
	// ErrNotEngaged: ENOENT on disengage or a retval write.
	ErrNotEngaged = errors.New("not engaged")
	// ErrUnknownSymbol: ENOENT from the kprobe layer on engage.
	ErrUnknownSymbol = errors.New("unknown symbol")
	// ErrProbeRefused: the kprobe layer refused the probe (blacklisted,
	// not traceable, owned by livepatch, ...).
	ErrProbeRefused = errors.New("probe refused")
	// ErrNotPermitted: EPERM for want of CAP_SYS_ADMIN.
	ErrNotPermitted = errors.New("not permitted")
	// ErrLockdown: EPERM because the kernel is locked down.
	ErrLockdown = errors.New("refused by lockdown")
	// ErrGuarded: EACCES from the module's guard rails.
	ErrGuarded = errors.New("refused by guard rail")
	// ErrHelperFailed: EIO from engagebpf; ks-bpf-load failed.
	ErrHelperFailed = errors.New("ks-bpf-load failed")
	// ErrUnsupported: EOPNOTSUPP, the kernel cannot do what was asked
	// (engagebpf without BPF override).
	ErrUnsupported = errors.New("not supported by this kernel")
)

// CommandError is a change the kernel refused. Its message names the
// thing, the reason and the way out.
type CommandError struct {
	// Op is the control verb, or "retval" for a fn/<sym>/retval write.
	Op     string
	Symbol string
	// Kind is one of the sentinel errors, nil if the errno is not one
	// this package knows.
	Kind  error
	Errno syscall.Errno
	// Reason and Fix are for people.
	Reason string
	Fix    string
	// KernelLog holds the killswitch and ks-bpf-load kernel log lines
	// written while the kernel handled the request, if readable.
	KernelLog []string
}

func (e *CommandError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Symbol != "" {
		b.WriteString(" " + e.Symbol)
	}
	b.WriteString(": " + e.Reason)
	if e.Fix != "" {
		b.WriteString(" (" + e.Fix + ")")
	}
	return b.String()
}

// Unwrap returns the sentinel and the errno, for errors.Is.
func (e *CommandError) Unwrap() []error {
	errs := []error{e.Errno}
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	return errs
}

// notLoadedError is returned when the interface is missing.
func notLoadedError(op, sym string) error {
	return &CommandError{
		Op: op, Symbol: sym, Kind: ErrModuleNotLoaded, Errno: syscall.ENOENT,
		Reason: "killswitch module not loaded: " + Dir + " is missing",
		Fix:    "modprobe killswitch; if it is loaded, mount securityfs: mount -t securityfs securityfs /sys/kernel/security",
	}
}

// explain fills Kind, Reason and Fix from the errno, the verb and what the
// kernel logged.
func (e *CommandError) explain(lockdown Lockdown) {
	log := strings.Join(e.KernelLog, "\n")
	engaging := e.Op == string(VerbEngage) || e.Op == string(VerbTryEngage) || e.Op == string(VerbObserve)
	check := "see killswitch check " + e.Symbol
	switch e.Errno {
	case syscall.EINVAL:
		if engaging && strings.Contains(log, "register_kprobe") {
			e.Kind, e.Reason, e.Fix = ErrProbeRefused,
				"the kprobe layer cannot probe it: blacklisted, in a non-traceable section, or not a function entry", check
		} else {
			e.Kind, e.Reason, e.Fix = ErrMalformed,
				"the module refused the request as malformed", "killswitch help shows the grammar; the kernel log may say more"
		}
	case syscall.EBUSY:
		switch {
		case e.Op == string(VerbEngageBPF):
			e.Kind, e.Reason, e.Fix = ErrAlreadyEngaged,
				"the engagebpf gate within_error_injection_list is engaged by an operator, or "+e.Symbol+" is busy",
				"disengage within_error_injection_list, then retry"
		case strings.Contains(log, "register_kprobe"):
			e.Kind, e.Reason, e.Fix = ErrProbeRefused,
				"another ftrace IPMODIFY user owns the function (a livepatch or another override)",
				"a livepatched function cannot also be engaged: engage its caller, or remove the livepatch"
		default:
			e.Kind, e.Reason, e.Fix = ErrAlreadyEngaged,
				"already engaged, probing or observed",
				"killswitch status shows it; disengage it first, or change the value with killswitch set-retval"
		}
	case syscall.ENOENT:
		if engaging {
			e.Kind, e.Reason, e.Fix = ErrUnknownSymbol,
				"no such symbol: misspelt, inlined away, or in a module that is not loaded", check
		} else {
			e.Kind, e.Reason, e.Fix = ErrNotEngaged, "not engaged", "killswitch status lists what is"
		}
	case syscall.EPERM:
		if lockdown.AllowsRuntime() || e.Op == string(VerbDisengage) || e.Op == string(VerbDisengageAll) {
			e.Kind, e.Reason, e.Fix = ErrNotPermitted,
				"permission denied: changes need CAP_SYS_ADMIN", "run as root"
		} else {
			e.Kind, e.Reason = ErrLockdown, "refused: the kernel is locked down ("+string(lockdown)+")"
			if lockdown.AllowsModparam() {
				e.Fix = "under lockdown=integrity put it in the engage= module parameter instead: killswitch save, then reload the (signed) module; disengage still works"
			} else {
				e.Fix = "under lockdown=confidentiality neither runtime nor load-time engagement is possible; boot with a lower lockdown level"
			}
		}
	case syscall.EACCES:
		e.Kind, e.Reason, e.Fix = ErrGuarded,
			"refused by the module's guard rail: it is a security check and the value would let it pass (fail open), or it is on the hazard list",
			"fail closed instead: a negative errno such as -1 (EPERM), or 0 for a yes/no check such as capable(); or load the module with guard=0 if you really mean it"
	case syscall.EIO:
		if e.Op == string(VerbEngageBPF) {
			e.Kind, e.Reason, e.Fix = ErrHelperFailed, "ks-bpf-load failed", "the kernel log lines below say why"
			// The helper's own line says why; the module's line after
			// it only points back at it.
			if last := lastWithPrefix(e.KernelLog, "ks-bpf-load:"); last != "" {
				e.Reason = "ks-bpf-load failed: " + last
				e.Fix = ""
			} else if len(e.KernelLog) == 0 {
				e.Fix = "the reason is in the kernel log: dmesg | grep ks-bpf-load"
			}
			break
		}
		e.Reason = "I/O error"
	case syscall.EOPNOTSUPP:
		e.Kind, e.Reason = ErrUnsupported, "not supported by this kernel"
		if e.Op == string(VerbEngageBPF) {
			e.Reason = "this kernel lacks CONFIG_FUNCTION_ERROR_INJECTION or CONFIG_BPF_KPROBE_OVERRIDE, so a BPF program cannot override " + e.Symbol
			e.Fix = "use a native caller filter instead, e.g. killswitch engage " + e.Symbol + " -1 uid!=0"
		}
	case syscall.ENODEV:
		e.Kind, e.Reason, e.Fix = ErrProbeRefused, "kprobes are disabled", "echo 1 > /sys/kernel/debug/kprobes/enabled"
	case syscall.EILSEQ:
		e.Kind, e.Reason, e.Fix = ErrProbeRefused, "the address is not on an instruction boundary", check
	}
	if e.Reason == "" {
		e.Reason = fmt.Sprintf("the kernel refused it: %v", e.Errno)
	}
}

func lastWithPrefix(lines []string, prefix string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], prefix) {
			return lines[i]
		}
	}
	return ""
}
