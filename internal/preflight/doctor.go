package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/ksfs"
)

// HelperPath is where the module runs ks-bpf-load from.
const HelperPath = "/usr/sbin/ks-bpf-load"

// secureBootVar is the EFI global variable SecureBoot: 4 bytes of
// attributes, then 1 when Secure Boot is on.
const secureBootVar = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e98c0e25a8b0"

// DoctorOptions tunes Doctor.
type DoctorOptions struct {
	// ProbeBPF asks the running kernel whether it loads kprobe programs
	// and lets them call bpf_override_return. nil skips the probe (tests,
	// or a root other than the running host).
	ProbeBPF func() (kprobe, override error)
}

// ProbeBPF is the real DoctorOptions.ProbeBPF, using cilium/ebpf's
// feature probes. It needs CAP_BPF or root.
func ProbeBPF() (kprobe, override error) {
	kprobe = features.HaveProgramType(ebpf.Kprobe)
	if kprobe != nil {
		return kprobe, kprobe
	}
	return nil, features.HaveProgramHelper(ebpf.Kprobe, asm.FnOverrideReturn)
}

// Doctor checks everything the host needs for killswitch. Refuse findings
// are failures: something killswitch needs is missing.
func (h *Host) Doctor(opts DoctorOptions) []Finding {
	var out []Finding
	add := func(check string, v Verdict, msg, fix string) {
		out = append(out, Finding{Check: check, Verdict: v, Message: msg, Fix: fix})
	}
	rel, relErr := h.Release()
	if relErr != nil {
		add("kernel", Skip, relErr.Error(), "")
	} else {
		add("kernel", OK, "running "+rel, "")
	}

	h.doctorModule(rel, add)
	cfg, cfgPath, cfgErr := h.Config()
	h.doctorConfig(cfg, cfgPath, cfgErr, add)

	switch b, err := h.fs.ReadFile(kprobesEnabled); {
	case err != nil:
		add("kprobes", Skip, "cannot read "+kprobesEnabled+" (needs root and debugfs)", "")
	case strings.TrimSpace(string(b)) == "0":
		add("kprobes", Refuse, "kprobes are disabled globally: engagements would never run", "echo 1 > "+kprobesEnabled)
	default:
		add("kprobes", OK, "kprobes are enabled", "")
	}

	h.doctorLockdown(add)

	if hostfs.Exists(h.fs, vmlinuxBTF) {
		add("btf", OK, "kernel BTF at "+vmlinuxBTF+": check reads prototypes", "")
	} else {
		add("btf", Warn, "no kernel BTF: check cannot read prototypes, so return values go unchecked", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y")
	}

	h.doctorBPF(cfg, cfgErr, opts, add)
	h.doctorSigning(cfg, cfgErr, add)
	return out
}

func (h *Host) doctorModule(rel string, add func(string, Verdict, string, string)) {
	switch mounted, err := h.mounted("securityfs", "/sys/kernel/security"); {
	case err != nil:
		add("securityfs", Skip, "cannot read "+mountsFile+": "+err.Error(), "")
	case !mounted:
		add("securityfs", Refuse, "securityfs is not mounted at /sys/kernel/security", "mount -t securityfs securityfs /sys/kernel/security")
	default:
		add("securityfs", OK, "securityfs is mounted at /sys/kernel/security", "")
	}

	client := ksfs.New(h.fs)
	if h.ModuleLoaded("killswitch") {
		msg := "killswitch module is loaded"
		if b, err := h.fs.ReadFile(sysModuleDir + "killswitch/taint"); err == nil && strings.TrimSpace(string(b)) != "" {
			msg += " (taint " + strings.TrimSpace(string(b)) + ")"
		}
		if b, err := h.fs.ReadFile(guardParamFile); err == nil && strings.TrimSpace(string(b)) == "N" {
			if h.lockedDown() {
				add("module", OK, msg+" with guard=0, which the module ignores under lockdown: the guard rails apply", "")
			} else {
				add("module", Warn, msg+" with guard=0: security checks can be made to pass", "reload without guard=0 unless you need it")
			}
		} else {
			add("module", OK, msg, "")
		}
		if client.Loaded() {
			add("interface", OK, ksfs.Dir+" is present", "")
		} else {
			add("interface", Refuse, "the module is loaded but "+ksfs.Dir+" is missing", "mount securityfs, or check the kernel log for the module's load errors")
		}
		return
	}
	if installed := h.installedModule(rel); installed != "" {
		add("module", Warn, "killswitch is installed ("+installed+") but not loaded", "modprobe killswitch")
	} else {
		add("module", Refuse, "killswitch module is neither loaded nor installed for this kernel", "make && make install, or dkms install killswitch/<version>")
	}
}

// installedModule finds killswitch.ko in modules.dep.
func (h *Host) installedModule(rel string) string {
	if rel == "" {
		return ""
	}
	b, err := h.fs.ReadFile("/lib/modules/" + rel + "/modules.dep")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		path, _, _ := strings.Cut(line, ":")
		base := path[strings.LastIndexByte(path, '/')+1:]
		if strings.HasPrefix(base, "killswitch.ko") {
			return path
		}
	}
	return ""
}

func (h *Host) doctorConfig(cfg map[string]string, path string, err error, add func(string, Verdict, string, string)) {
	if err != nil {
		add("kconfig", Warn, "cannot read the kernel config: "+err.Error(), "the checks below that need it are skipped")
		return
	}
	for _, c := range []struct {
		key     string
		verdict Verdict
		why     string
	}{
		{"CONFIG_KPROBES", Refuse, "killswitch places a kprobe on each target"},
		{"CONFIG_KPROBES_ON_FTRACE", Warn, "without it every probe is a breakpoint, slower on hot functions"},
		{"CONFIG_FTRACE", Warn, "ftrace-based probes and available_filter_functions need it"},
		{"CONFIG_SECURITYFS", Refuse, "the control interface lives in securityfs"},
		{"CONFIG_MODULES", Refuse, "killswitch is a module"},
	} {
		v := cfg[c.key]
		if v == "y" {
			add("kconfig", OK, c.key+"=y", "")
			continue
		}
		if v == "" {
			v = "not set"
		}
		add("kconfig", c.verdict, fmt.Sprintf("%s is %s in %s: %s", c.key, v, path, c.why), "use a kernel built with "+c.key+"=y")
	}
}

func (h *Host) doctorLockdown(add func(string, Verdict, string, string)) {
	b, err := h.fs.ReadFile(ksfs.LockdownFile)
	if errors.Is(err, fs.ErrNotExist) {
		add("lockdown", OK, "no lockdown LSM: "+ksfs.LockdownNone.Explain(), "")
		return
	}
	if err != nil {
		add("lockdown", Skip, "cannot read "+ksfs.LockdownFile+": "+err.Error(), "")
		return
	}
	level, err := ksfs.ParseLockdown(string(b))
	if err != nil {
		add("lockdown", Skip, err.Error(), "")
		return
	}
	msg := "lockdown=" + string(level) + ": " + level.Explain()
	switch level {
	case ksfs.LockdownIntegrity:
		add("lockdown", Warn, msg, "engage at boot with killswitch save and a signed module")
	case ksfs.LockdownConfidentiality:
		add("lockdown", Refuse, msg, "boot with lockdown=integrity or lower to use killswitch")
	default:
		add("lockdown", OK, msg, "")
	}
}

func (h *Host) doctorBPF(cfg map[string]string, cfgErr error, opts DoctorOptions, add func(string, Verdict, string, string)) {
	if cfgErr == nil {
		var missing []string
		for _, k := range []string{"CONFIG_BPF_SYSCALL", "CONFIG_BPF_EVENTS", "CONFIG_FUNCTION_ERROR_INJECTION", "CONFIG_BPF_KPROBE_OVERRIDE"} {
			if cfg[k] != "y" {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			add("engagebpf", OK, "the kernel config supports engagebpf", "")
		} else {
			add("engagebpf", Warn, "engagebpf cannot work on this kernel: "+strings.Join(missing, ", ")+" not set",
				"use native filters instead, e.g. killswitch engage <sym> -1 uid!=0")
		}
	}

	if opts.ProbeBPF != nil {
		kprobe, override := opts.ProbeBPF()
		switch {
		case kprobe != nil && errors.Is(kprobe, ebpf.ErrNotSupported):
			add("bpf-probe", Warn, "the kernel does not load kprobe BPF programs", "engagebpf is unavailable; use native filters")
		case kprobe != nil:
			add("bpf-probe", Skip, "could not probe BPF support: "+kprobe.Error(), "run as root")
		case override != nil && errors.Is(override, ebpf.ErrNotSupported):
			add("bpf-probe", Warn, "kprobe programs load, but bpf_override_return is not available", "engagebpf is unavailable; use native filters")
		case override != nil:
			add("bpf-probe", Skip, "could not probe bpf_override_return: "+override.Error(), "run as root")
		default:
			add("bpf-probe", OK, "kprobe programs load and may call bpf_override_return", "")
		}
	}

	switch mounted, err := h.mounted("bpf", "/sys/fs/bpf"); {
	case err == nil && !mounted:
		add("bpffs", Warn, "bpffs is not mounted at /sys/fs/bpf", "ks-bpf-load mounts it when needed; mount -t bpf bpf /sys/fs/bpf to see pins")
	case err == nil:
		add("bpffs", OK, "bpffs is mounted at /sys/fs/bpf", "")
	}

	switch fi, err := h.fs.Stat(HelperPath); {
	case err != nil:
		add("helper", Warn, HelperPath+" is missing: engagebpf fails with EIO", "make install puts it there")
	case fi.Mode()&0o111 == 0:
		add("helper", Warn, HelperPath+" is not executable", "chmod 0755 "+HelperPath)
	default:
		add("helper", OK, HelperPath+" is installed", "")
	}
}

func (h *Host) doctorSigning(cfg map[string]string, cfgErr error, add func(string, Verdict, string, string)) {
	switch b, err := h.fs.ReadFile(secureBootVar); {
	case err == nil && len(b) >= 5 && b[4] == 1:
		add("secureboot", Warn, "Secure Boot is on: the module must be signed with a key the kernel trusts (MOK), and lockdown is usually integrity",
			"sign killswitch.ko and enrol the key with mokutil --import")
	case err == nil:
		add("secureboot", OK, "Secure Boot is off", "")
	case hostfs.Exists(h.fs, "/sys/firmware/efi"):
		add("secureboot", Skip, "cannot read the SecureBoot EFI variable", "")
	default:
		add("secureboot", OK, "not booted with EFI: no Secure Boot", "")
	}

	h.doctorModuleSignature(cfg, cfgErr, add)
}

// moduleSigMagic ends a signed module file (the kernel's MODULE_SIG_STRING).
const moduleSigMagic = "~Module signature appended~\n"

// sigEnforcement lists what makes the running kernel refuse unsigned
// modules: module.sig_enforce=1 (or CONFIG_MODULE_SIG_FORCE, which shows
// there too), and lockdown, which refuses them even without sig_enforce
// (LOCKDOWN_MODULE_SIGNATURE is an integrity reason). Empty: not enforced.
func (h *Host) sigEnforcement(cfg map[string]string, cfgErr error) []string {
	var why []string
	if b, err := h.fs.ReadFile(sysModuleDir + "module/parameters/sig_enforce"); err == nil && strings.TrimSpace(string(b)) == "Y" {
		if cfgErr == nil && cfg["CONFIG_MODULE_SIG_FORCE"] == "y" {
			why = append(why, "CONFIG_MODULE_SIG_FORCE=y")
		} else {
			why = append(why, "module.sig_enforce=1")
		}
	} else if cfgErr == nil && cfg["CONFIG_MODULE_SIG_FORCE"] == "y" {
		why = append(why, "CONFIG_MODULE_SIG_FORCE=y")
	}
	if b, err := h.fs.ReadFile(ksfs.LockdownFile); err == nil {
		if level, err := ksfs.ParseLockdown(string(b)); err == nil && level != ksfs.LockdownNone {
			why = append(why, "lockdown="+string(level))
		}
	}
	return why
}

// doctorModuleSignature says whether unsigned modules are refused, why,
// and whether our module passes: the loaded one (its taint has no E), or
// the installed file (it carries a signature).
func (h *Host) doctorModuleSignature(cfg map[string]string, cfgErr error, add func(string, Verdict, string, string)) {
	const fix = "make sign KEY=<MOK key> CERT=<MOK cert>, with a key the kernel trusts; README: Secure Boot"
	if cfgErr == nil && cfg["CONFIG_MODULE_SIG"] != "y" {
		add("signing", OK, "the kernel does not check module signatures (CONFIG_MODULE_SIG is not set)", "")
		return
	}
	why := h.sigEnforcement(cfg, cfgErr)
	loaded := h.ModuleLoaded("killswitch")
	taint := ""
	if b, err := h.fs.ReadFile(sysModuleDir + "killswitch/taint"); err == nil {
		taint = strings.TrimSpace(string(b))
	}
	installed := ""
	if rel, err := h.Release(); err == nil {
		installed = h.installedModule(rel)
	}
	signedFile, fileKnown := false, false
	if strings.HasSuffix(installed, ".ko") {
		if rel, err := h.Release(); err == nil {
			if b, err := h.fs.ReadFile("/lib/modules/" + rel + "/" + installed); err == nil {
				signedFile, fileKnown = strings.HasSuffix(string(b), moduleSigMagic), true
			}
		}
	}

	if len(why) == 0 {
		msg := "module signatures are not enforced"
		if loaded && strings.Contains(taint, "E") {
			add("signing", OK, msg+"; the loaded killswitch is unsigned (taint E): a Secure Boot host would refuse it", "")
			return
		}
		add("signing", OK, msg, "")
		return
	}
	msg := "module signatures are enforced (" + strings.Join(why, ", ") + "): an unsigned killswitch.ko is refused"
	switch {
	case loaded:
		add("signing", OK, msg+"; the loaded killswitch passed the signature check", "")
	case fileKnown && signedFile:
		add("signing", Warn, msg+"; the installed "+installed+" carries a signature (the kernel must trust its key: modinfo shows the signer)", "modprobe killswitch")
	case fileKnown:
		add("signing", Refuse, msg+"; the installed "+installed+" is unsigned", fix)
	default:
		add("signing", Warn, msg, fix)
	}
}
