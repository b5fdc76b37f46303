package cli

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/catalog"
	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/preflight"
)

// DefaultBPFDir is where the catalog's engagebpf programs are installed.
const DefaultBPFDir = "/usr/lib/killswitch/mitigations"

// Host files the mitigation commands read besides pre-flight's.
const (
	unameVersionFile = "/proc/sys/kernel/version"
	osReleaseFile    = "/proc/sys/kernel/osrelease"
	signatureFile    = "/proc/version_signature"
	kallsymsPath     = "/proc/kallsyms"
	bpfLoaderPath    = "/usr/sbin/ks-bpf-load"
)

// hostFacts answers catalog.Facts from the host filesystem.
type hostFacts struct {
	fs      hostfs.FS
	host    *preflight.Host
	version string // --kernel-version, overrides what the kernel says
	bpfDir  string
	funcs   map[string]bool
}

func (h *hostFacts) KernelVersion() (catalog.Version, string, error) {
	if h.version != "" {
		v, err := catalog.ParseVersion(h.version)
		return v, "--kernel-version", err
	}
	read := func(p string) string {
		b, _ := h.fs.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	return catalog.HostVersion(read(unameVersionFile), read(osReleaseFile), read(signatureFile))
}

func (h *hostFacts) Config() map[string]string {
	cfg, _, err := h.host.Config()
	if err != nil {
		return nil
	}
	return cfg
}

// HasFunction reads kallsyms once: text symbols only.
func (h *hostFacts) HasFunction(name string) bool {
	if h.funcs == nil {
		h.funcs = map[string]bool{}
		b, _ := h.fs.ReadFile(kallsymsPath)
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && len(f[1]) == 1 && strings.ContainsAny(f[1], "tTwW") {
				h.funcs[f[2]] = true
			}
		}
	}
	return h.funcs[name]
}

func (h *hostFacts) ModuleLoaded(name string) bool { return h.host.ModuleLoaded(name) }

func (h *hostFacts) BPFOverride(e *catalog.Entry) (string, bool) {
	cfg := h.Config()
	if cfg["CONFIG_FUNCTION_ERROR_INJECTION"] != "y" || cfg["CONFIG_BPF_KPROBE_OVERRIDE"] != "y" {
		return "", false
	}
	obj := path.Join(h.bpfDir, e.BPFObject)
	if !hostfs.Exists(h.fs, obj) || !hostfs.Exists(h.fs, bpfLoaderPath) {
		return "", false
	}
	return obj, true
}

// mitigateFlags are the flags shared by mitigate and mitigations.
type mitigateFlags struct {
	asJSON     bool
	version    string
	bpfDir     string
	native     bool
	dryRun     bool
	load       bool
	force      bool
	anyVersion bool
	probe      string
}

func (f *mitigateFlags) registerHost(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON for machines")
	cmd.Flags().StringVar(&f.version, "kernel-version", "", "the running kernel's upstream version, when uname does not tell it (e.g. 6.1.192)")
	cmd.Flags().StringVar(&f.bpfDir, "bpf-dir", DefaultBPFDir, "where the catalog's engagebpf programs are installed")
	cmd.Flags().BoolVar(&f.native, "native", false, "use the module's native caller filters even where BPF override works")
}

func (a *app) facts(f *mitigateFlags) *hostFacts {
	h := &hostFacts{fs: a.env.FS, host: a.host, version: f.version, bpfDir: f.bpfDir}
	return h
}

// nativeFacts hides BPF override, for --native.
type nativeFacts struct{ *hostFacts }

func (nativeFacts) BPFOverride(*catalog.Entry) (string, bool) { return "", false }

func (a *app) assess(e *catalog.Entry, f *mitigateFlags, probe time.Duration) *catalog.Assessment {
	return catalog.Assess(e, a.factsHere(f), probe)
}

// factsHere answers for the host as it is now: one serves several entries,
// reading kallsyms once (a new one sees modules loaded since).
func (a *app) factsHere(f *mitigateFlags) catalog.Facts {
	if f.native {
		return nativeFacts{a.facts(f)}
	}
	return a.facts(f)
}

func loadCatalog() (*catalog.Catalog, error) {
	c, err := catalog.Load()
	if err != nil {
		return nil, &exitError{ExitError, err}
	}
	return c, nil
}

func (a *app) mitigationsCommand() *cobra.Command {
	var f mitigateFlags
	cmd := &cobra.Command{
		Use:     "mitigations [list | show <CVE>]",
		GroupID: "look",
		Short:   "List the CVE mitigation catalog, and whether each entry applies here",
		Long: `Mitigations lists the reviewed CVE mitigation catalog built into killswitch:
for each CVE the functions it engages, the verb, and how it stands on this host
(kernel version against the affected ranges, symbols in kallsyms, modules
loaded). "show <CVE>" prints one entry in full: summary, targets with their
return values and types, filter, probe window, modules, fix commit, affected
ranges, what stops working and what keeps working, the review notes, and the
control lines killswitch mitigate would write.

Verdicts: applies; not-affected (kernel outside the ranges, or a required
config option off); needs-module (a module holding a target is not loaded:
killswitch mitigate --load loads it); symbol-absent (the function is not in
this kernel: see the catalog's note why); no-mitigation (no function can be
switched off safely).`,
		Example: `  killswitch mitigations
  killswitch mitigations show CVE-2026-31431
  killswitch mitigations list --json | jq '.[] | select(.verdict == "applies") | .id'`,
		Args: argsBetween(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadCatalog()
			if err != nil {
				return err
			}
			switch {
			case len(args) == 0 || (len(args) == 1 && args[0] == "list"):
				return a.listMitigations(c, &f)
			case len(args) == 2 && args[0] == "show":
				e, err := c.Lookup(args[1])
				if err != nil {
					return usageError(err)
				}
				return a.showMitigation(e, &f)
			}
			return usageError(fmt.Errorf("mitigations: want list or show <CVE>\nusage: %s", cmd.UseLine()))
		},
	}
	f.registerHost(cmd)
	return cmd
}

func (a *app) listMitigations(c *catalog.Catalog, f *mitigateFlags) error {
	var all []*catalog.Assessment
	facts := a.factsHere(f)
	for _, e := range c.Entries() {
		all = append(all, catalog.Assess(e, facts, -1))
	}
	if f.asJSON {
		return a.printJSON(all)
	}
	if len(all) > 0 && all[0].Version != "" {
		a.printf("kernel %s (from %s)\n", all[0].Version, all[0].VersionSource)
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CVE\tVERB\tTARGETS\tVERSION\tHERE\tSUMMARY")
	counts := map[catalog.Verdict]int{}
	for _, as := range all {
		e := as.Entry
		counts[as.Verdict]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Verb, dash(targetList(e)), as.VersionCheck, as.Verdict, shorten(e.Summary, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	a.printf("%d entries: %d apply, %d not affected, %d need a module, %d symbol absent, %d without mitigation\n",
		len(all), counts[catalog.Applies], counts[catalog.NotAffected], counts[catalog.NeedsModule], counts[catalog.SymbolAbsent], counts[catalog.NoMitigation])
	return nil
}

func targetList(e *catalog.Entry) string {
	var s []string
	for _, t := range e.Targets {
		s = append(s, t.Symbol)
	}
	return strings.Join(s, ",")
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// showJSON is mitigations show --json: the entry and how it stands here.
type showJSON struct {
	Entry *catalog.Entry      `json:"entry"`
	Here  *catalog.Assessment `json:"here"`
}

func (a *app) showMitigation(e *catalog.Entry, f *mitigateFlags) error {
	as := a.assess(e, f, -1)
	if f.asJSON {
		return a.printJSON(showJSON{Entry: e, Here: as})
	}
	a.printf("%s: %s\n", e.Title(), e.Summary)
	a.printf("verb:       %s\n", e.Verb)
	for _, t := range e.Targets {
		where := "vmlinux"
		if t.Module != "" {
			where = "module " + t.Module
		}
		a.printf("target:     %s returns %s (%s %s), in %s\n", strings.Join(t.Names(), " or "), ksfs.FormatRetval(t.Retval), t.Returns, "reviewed", where)
		for _, k := range []string{"6.1", "6.12"} {
			if p, ok := t.Kernels[k]; ok {
				a.printf("            %-5s %s\n", k+":", presence(p))
			}
		}
	}
	if e.Filter != "" {
		a.printf("filter:     %s\n", e.Filter)
	}
	if e.Verb == catalog.VerbTryEngage {
		a.printf("probe:      %ds\n", e.ProbeSeconds)
	}
	if len(e.Modules) > 0 {
		a.printf("modules:    %s\n", strings.Join(e.Modules, ", "))
	}
	if e.BPFObject != "" {
		a.printf("bpf:        %s (where the kernel has BPF override; else the native filter)\n", e.BPFObject)
	}
	if e.FixCommit != "" {
		a.printf("fix:        %s\n", e.FixCommit)
	}
	if len(e.FixedIn) > 0 {
		a.printf("fixed in:   %s\n", strings.Join(e.FixedIn, ", "))
	}
	a.printf("affected:   %s\n", dash(strings.Join(e.Affected, ", ")))
	if e.Ambiguous != "" {
		a.printf("ambiguous:  %s\n", e.Ambiguous)
	}
	if len(e.RequiresConfig) > 0 {
		a.printf("needs:      %s\n", strings.Join(e.RequiresConfig, ", "))
	}
	a.printf("effect:     %s\n", e.Effect)
	if e.WhyNone != "" {
		a.printf("why none:   %s\n", e.WhyNone)
	}
	if e.Guard != "" {
		a.printf("guard:      %s\n", e.Guard)
	}
	for _, n := range e.Notes {
		a.printf("note:       %s\n", n)
	}
	a.printf("reviewed:   %s\n", e.Reviewed)
	a.printAssessment(as)
	return nil
}

func presence(p catalog.Presence) string {
	if !p.Present {
		return "absent (" + p.Why + "): " + p.Detail
	}
	s := "present"
	if p.As != "" {
		s += " as " + p.As
	}
	if p.Module != "" {
		s += " in module " + p.Module
	}
	if p.Detail != "" {
		s += "; " + p.Detail
	}
	return s
}

func (a *app) printAssessment(as *catalog.Assessment) {
	a.printf("here:       %s\n", as.Verdict)
	for _, r := range as.Reasons {
		a.printf("            %s\n", r)
	}
	if len(as.Lines) > 0 && as.Verdict != catalog.NoMitigation {
		a.printf("control (%s):\n", as.Mechanism)
		for _, l := range as.Lines {
			a.printf("  %s\n", l)
		}
	}
}

// mitigateJSON is mitigate --json. Field names are a contract with
// automation: add, never rename.
type mitigateJSON struct {
	*catalog.Assessment
	DryRun bool `json:"dry_run"`
	// Applied lists the control lines written and kept.
	Applied []string `json:"applied"`
	// Aborted lists tryengage targets called during the probe.
	Aborted []string `json:"aborted,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func (a *app) mitigateCommand() *cobra.Command {
	var f mitigateFlags
	cmd := &cobra.Command{
		Use:     "mitigate <CVE>",
		GroupID: "change",
		Short:   "Apply a catalog mitigation, where it applies",
		Long: `Mitigate applies the catalog entry of a CVE on this host, after deciding it
applies: the running kernel's upstream version (Debian's uname -v carries it;
--kernel-version gives it) against the affected ranges and required config;
every target present in kallsyms; modules loaded (--load loads them: an
unloaded module is usually loaded on demand, so the host is still exposed);
and the mechanism: engagebpf entries use their BPF program only where the
kernel has BPF override, and the module's native caller filter otherwise.
Pre-flight (killswitch check) then runs on every target, as for engage.

A tryengage entry shows the probe countdown per target; --probe changes the
window. It prints exactly the control lines it wrote. On a kernel outside the
affected ranges it changes nothing and exits 0 (--any-version applies it all
the same). --dry-run prints the control lines without writing them.

Exit codes as for engage: 0 done (or not needed), 1 done with warnings,
2 refused or aborted (nothing changed, or the aborted targets say which),
3 could not run.`,
		Example: `  killswitch mitigate CVE-2026-31431
  killswitch mitigate CVE-2026-43284 --load --dry-run
  killswitch mitigate CVE-2025-21700 --json`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadCatalog()
			if err != nil {
				return err
			}
			e, err := c.Lookup(args[0])
			if err != nil {
				return usageError(err)
			}
			probe := time.Duration(-1)
			if f.probe != "" {
				if probe, err = ksfs.ParseProbe(f.probe); err != nil {
					return usageError(fmt.Errorf("mitigate %s: --probe: %w", e.ID, err))
				}
			}
			return a.mitigate(e, &f, probe)
		},
	}
	f.registerHost(cmd)
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print the control lines without writing them")
	cmd.Flags().BoolVar(&f.load, "load", false, "modprobe the modules that hold the targets if they are not loaded")
	cmd.Flags().BoolVar(&f.force, "force", false, "go ahead despite pre-flight refusals that are its own judgement")
	cmd.Flags().BoolVar(&f.anyVersion, "any-version", false, "apply even if the kernel version is outside the affected ranges")
	cmd.Flags().StringVar(&f.probe, "probe", "", "tryengage window instead of the entry's (seconds or a duration; 0 engages at once)")
	return cmd
}

func (a *app) mitigate(e *catalog.Entry, f *mitigateFlags, probe time.Duration) error {
	out := a.env.Stdout
	if f.asJSON {
		// People's progress goes to stderr; stdout carries the JSON.
		a.env.Stdout = a.env.Stderr
		defer func() { a.env.Stdout = out }()
	}
	res := &mitigateJSON{DryRun: f.dryRun, Applied: []string{}}
	err := a.mitigateSteps(e, f, probe, res)
	if f.asJSON {
		a.env.Stdout = out
		if err != nil {
			res.Error = err.Error()
		}
		if jerr := a.printJSON(res); jerr != nil {
			return jerr
		}
	}
	return err
}

func (a *app) mitigateSteps(e *catalog.Entry, f *mitigateFlags, probe time.Duration, res *mitigateJSON) error {
	as := a.assess(e, f, probe)
	res.Assessment = as
	a.printf("%s: %s\n", e.Title(), e.Summary)
	if as.Version != "" {
		a.printf("kernel %s (from %s): %s\n", as.Version, as.VersionSource, as.VersionCheck)
	}

	switch as.Verdict {
	case catalog.NoMitigation:
		return refused("mitigate %s: the catalog has no mitigation for it: %s", e.ID, e.WhyNone)
	case catalog.NotAffected:
		if !f.anyVersion {
			a.printf("not needed: %s; nothing was changed (--any-version applies it anyway)\n", strings.Join(as.Reasons, "; "))
			return nil
		}
		a.warnf("warning: mitigate %s: %s; applying it because of --any-version\n", e.ID, strings.Join(as.Reasons, "; "))
	}
	missing := missingModules(e, as)
	switch {
	case len(missing) > 0 && f.dryRun:
		a.printf("note: %s not loaded: mitigate needs --load\n", plural("module", missing))
	case len(missing) > 0 && !f.load:
		return refused("mitigate %s: %s not loaded; such modules load on demand, so the host is still exposed (pass --load to load and engage now, or blacklist %s)",
			e.ID, plural("module", missing), strings.Join(missing, ", "))
	case len(missing) > 0:
		for _, m := range missing {
			fmt.Fprintf(a.env.Stderr, "loading module %s\n", m)
			if err := a.env.Modprobe(a.ctx, m); err != nil {
				return &exitError{ExitError, fmt.Errorf("mitigate %s: %w", e.ID, err)}
			}
		}
		as = a.assess(e, f, probe)
		res.Assessment = as
		if still := missingModules(e, as); len(still) > 0 {
			return refused("mitigate %s: %s still not loaded after modprobe", e.ID, plural("module", still))
		}
	}
	var absent []string
	for _, t := range as.Targets {
		if !t.Present && t.MissingModule == "" {
			absent = append(absent, t.Symbol)
		}
	}
	if len(absent) > 0 {
		return refused("mitigate %s: cannot apply here: %s", e.ID, strings.Join(as.Reasons, "; "))
	}
	for _, r := range as.Reasons {
		if strings.HasPrefix(r, "no BPF override") || strings.Contains(r, "treated as affected") {
			a.printf("note: %s\n", r)
		}
	}

	if as.Mechanism == "native" {
		for i, cmd := range as.Commands {
			if as.Targets[i].MissingModule != "" {
				continue // dry run: pre-flight needs the module
			}
			t := target{sym: cmd.Symbol, retval: cmd.Retval, filters: cmd.Filters}
			tg := e.Targets[i]
			if tg.Void() {
				a.printf("note: %s returns void: the catalog's review found skipping its body to be the mitigation\n", tg.Symbol)
			}
			cf := checkFlags{force: f.force || tg.Void(), module: tg.Module}
			if err := a.preflight("mitigate "+e.ID, &t, false, cf); err != nil {
				return err
			}
		}
	}

	if f.dryRun {
		a.printf("dry run: would write to %s/control:\n", ksfs.Dir)
		for _, l := range as.Lines {
			a.printf("  %s\n", l)
		}
		return nil
	}
	if err := a.client.Ready("mitigate " + e.ID); err != nil && as.Mechanism == "native" {
		return err
	}

	var done []ksfs.Command
	for _, cmd := range as.Commands {
		if err := a.client.Do(cmd); err != nil {
			a.rollback(done)
			return err
		}
		done = append(done, cmd)
		a.printf("engaged: %s\n", cmd)
	}
	var aborted []string
	for _, cmd := range done {
		if cmd.Verb != ksfs.VerbTryEngage || cmd.Probe == 0 {
			res.Applied = append(res.Applied, cmd.String())
			continue
		}
		err := a.waitProbe(target{sym: cmd.Symbol, retval: cmd.Retval, filters: cmd.Filters})
		var ee *exitError
		switch {
		case err == nil:
			res.Applied = append(res.Applied, cmd.String())
		case errors.As(err, &ee) && ee.code == ExitRefused:
			fmt.Fprintln(a.env.Stderr, "killswitch: "+err.Error())
			aborted = append(aborted, cmd.Symbol)
		default:
			return err
		}
	}
	res.Aborted = aborted
	if len(aborted) > 0 {
		kept := "nothing is engaged"
		if len(res.Applied) > 0 {
			kept = "still engaged: " + strings.Join(res.Applied, "; ")
		}
		return refused("mitigate %s: not mitigated: %s called during the probe; %s", e.ID, strings.Join(aborted, ", "), kept)
	}
	a.printf("mitigated %s: %s\n", e.Title(), e.Effect)
	a.printf("undo with: killswitch disengage <symbol> for %s\n", targetList(e))
	return nil
}

// missingModules are the entry's modules that are not loaded, when a
// target needs one.
func missingModules(e *catalog.Entry, as *catalog.Assessment) []string {
	need := false
	for _, t := range as.Targets {
		need = need || t.MissingModule != ""
	}
	if !need {
		return nil
	}
	var out []string
	for _, t := range as.Targets {
		if t.MissingModule != "" {
			out = appendNew(out, t.MissingModule)
		}
	}
	for _, m := range e.Modules {
		out = appendNew(out, m)
	}
	return out
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func plural(word string, items []string) string {
	if len(items) == 1 {
		return word + " " + items[0] + " is"
	}
	return word + "s " + strings.Join(items, ", ") + " are"
}

// rollback disengages what a failed mitigate engaged, so that it changes
// all or nothing.
func (a *app) rollback(done []ksfs.Command) {
	for _, c := range done {
		if _, err := a.client.Disengage(c.Symbol); err != nil {
			a.warnf("warning: rolling back %s failed: %v (killswitch disengage %s)\n", c.Symbol, err, c.Symbol)
			continue
		}
		fmt.Fprintf(a.env.Stderr, "rolled back %s\n", c.Symbol)
	}
}
