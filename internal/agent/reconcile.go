package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
	"github.com/killswitch/killswitch/internal/preflight"
	"github.com/killswitch/killswitch/internal/trust"
)

// pass is one reconcile: it reads the module once, then converges each
// target and removes what the agent owns and the policy no longer wants.
type pass struct {
	a        *Agent
	ctx      context.Context
	log      *slog.Logger
	pol      *policy.Policy
	statuses statusSet
	// errs counts problems by reason for the reconcile_errors metric.
	errs  map[string]int
	cur   map[string]ksfs.Engagement
	bpf   []ksfs.Engagement
	inst  uint64
	host  *preflight.Host
	dirty bool
	// refused are this pass's trust refusals: the policy's, and module
	// loads refused on the way.
	refused []trust.Refusal
}

// reconcile brings the kernel to the policy. It runs on the loop
// goroutine only.
func (a *Agent) reconcile(ctx context.Context, why string) {
	start := time.Now()
	p := &pass{a: a, ctx: ctx, log: a.logger(), pol: a.pol, statuses: statusSet{}, errs: map[string]int{}}
	p.run()
	if a.host != nil && time.Since(a.hostUsed) > hostTTL {
		// Let the kernel's BTF go while nothing needs it.
		a.host = nil
	}
	if p.dirty {
		if err := a.st.save(a.statePath); err != nil {
			p.fail("state", "", err)
		}
	}
	a.publish(p, why, time.Since(start))
}

func (p *pass) run() {
	a := p.a
	if p.pol == nil {
		return
	}
	sel, err := p.pol.Select(a.kernel, a.cfg.Now())
	if err != nil {
		p.fail("policy", "", err)
		a.nextExpiry = time.Time{}
		return
	}
	a.nextExpiry = sel.Next
	for _, sk := range sel.Skipped {
		e, _ := p.pol.Entry(sk.Entry)
		for _, t := range e.Targets {
			p.status(t, fromSkip(sk.Reason), sk.Detail)
		}
	}
	// Entries the node's trust policy refuses are not applied at all;
	// what the agent made of them before (under another trust level) is
	// pruned like any target the policy no longer wants.
	allowed := sel.Targets[:0:0]
	for _, t := range sel.Targets {
		if rs := a.refused[t.Entry]; len(rs) > 0 {
			p.trustRefused(t, rs...)
			continue
		}
		allowed = append(allowed, t)
	}
	sel.Targets = allowed

	if !a.client.Loaded() {
		if len(sel.Targets) > 0 && a.cfg.LoadModule {
			p.loadKillswitch()
		}
	}
	if !a.client.Loaded() {
		why := "the killswitch module is not loaded"
		if !a.cfg.LoadModule {
			why += " (modprobe killswitch, or run killswitchd with --load-module)"
		} else if msg := a.failures["modprobe"]; msg != "" {
			why += ": " + msg
		}
		for _, t := range sel.Targets {
			p.status(t, StateWaiting, why)
		}
		if len(sel.Targets) > 0 {
			p.errs["module"]++
		}
		return
	}
	p.inst = a.instance()

	all, err := a.client.Engagements()
	if err != nil {
		p.fail("read", "", fmt.Errorf("read the module's engagements: %w", err))
		return
	}
	p.cur = map[string]ksfs.Engagement{}
	for _, e := range all {
		if e.BPFPin != "" {
			p.bpf = append(p.bpf, e)
			continue
		}
		p.cur[e.Symbol] = e
	}
	p.checkOwnership()

	desired := map[string]bool{}
	for _, t := range sel.Targets {
		desired[t.Symbol] = true
		p.apply(t)
	}
	p.prune(desired, sel)
}

// loadKillswitch modprobes the module and waits for its files.
func (p *pass) loadKillswitch() {
	a := p.a
	start := time.Now()
	err := p.modprobe(ModuleName)
	if err == nil {
		a.waitModule(p.ctx)
		if !a.client.Loaded() {
			err = fmt.Errorf("modprobe %s succeeded but %s did not appear within %v (is securityfs mounted?)", ModuleName, ksfs.Dir, moduleReady)
		}
	}
	a.metrics.action("modprobe", err)
	if err != nil {
		msg := err.Error()
		if a.failures["modprobe"] != msg {
			p.log.Error("cannot load the killswitch module", "err", msg)
		}
		a.failures["modprobe"] = msg
		return
	}
	delete(a.failures, "modprobe")
	p.log.Info("loaded the killswitch module", "module", ModuleName, "took", time.Since(start).Round(time.Millisecond))
}

// checkOwnership drops the records of engagements that are gone or were
// replaced by someone else's, noting tryengage aborts.
func (p *pass) checkOwnership() {
	a := p.a
	for sym, o := range a.st.Owned {
		e, ok := p.cur[sym]
		if ok && o.ours(e) {
			if o.State != e.State {
				if o.State == ksfs.StateProbing && e.State == ksfs.StateEngaged {
					p.log.Info("tryengage committed: nothing called it during the probe", "symbol", sym, "entry", o.Entry, "hits", e.Hits)
				}
				o.State, p.dirty = e.State, true
			}
			continue
		}
		delete(a.st.Owned, sym)
		p.dirty = true
		sameModule := o.Instance != 0 && o.Instance == p.inst
		switch {
		case ok && o.Since == 0:
			p.log.Warn("ownership record never completed (the agent stopped before reading back since): it cannot prove the engagement is its own, so leaves it alone",
				"symbol", sym, "entry", o.Entry, "engagement", shapeOf(e))
		case ok:
			p.log.Warn("engagement replaced by someone else's: the agent no longer owns it", "symbol", sym, "entry", o.Entry,
				"was", o.Shape, "now", shapeOf(e))
		case o.Verb == ksfs.VerbTryEngage && o.State == ksfs.StateProbing && sameModule:
			a.st.Aborted[sym] = o.Command
			p.log.Warn("tryengage aborted: the function was called during the probe, so it keeps running (not retried until the entry changes)",
				"symbol", sym, "entry", o.Entry, "command", o.Command)
		case !sameModule:
			p.log.Warn("engagement lost: the killswitch module was reloaded", "symbol", sym, "entry", o.Entry)
		default:
			p.log.Warn("engagement lost: disengaged by someone else, or the module holding the function unloaded", "symbol", sym, "entry", o.Entry)
		}
	}
}

// shapeOfTarget is the engagement a target makes, as shapeOf renders it.
func shapeOfTarget(t policy.Target) string {
	if t.Verb == ksfs.VerbObserve {
		return ksfs.Observe(t.Symbol).String()
	}
	return ksfs.Engage(t.Symbol, t.Retval, t.Filters...).String()
}

// satisfies reports whether engagement e is what t asks for.
func satisfies(t policy.Target, e ksfs.Engagement) bool {
	if shapeOf(e) != shapeOfTarget(t) {
		return false
	}
	switch t.Verb {
	case ksfs.VerbObserve:
		return e.State == ksfs.StateObserving
	case ksfs.VerbTryEngage:
		return e.State == ksfs.StateEngaged || e.State == ksfs.StateProbing
	default:
		return e.State == ksfs.StateEngaged
	}
}

// apply converges one target.
func (p *pass) apply(t policy.Target) {
	a := p.a
	e, exists := p.cur[t.Symbol]
	o := a.st.Owned[t.Symbol]
	if cmd, ok := a.st.Aborted[t.Symbol]; ok {
		if cmd != t.Command().String() {
			delete(a.st.Aborted, t.Symbol)
			p.dirty = true
		} else if !exists {
			p.status(t, StateAborted, "tryengage was aborted: "+t.Symbol+" was called during the probe, so it was not engaged (change the entry, e.g. verb: engage, to try again; killswitch observe shows the callers)")
			return
		}
	}
	switch {
	case !exists:
		p.engage(t, nil)
	case o != nil:
		p.converge(t, e, o)
	case satisfies(t, e):
		p.status(t, StateHeld, "engaged as the policy asks, but not by the agent, which leaves it alone")
	case t.Adopt || p.pol.Exclusive:
		why := "adopt: true"
		if p.pol.Exclusive {
			why = "the policy is exclusive"
		}
		p.log.Info("adopting an engagement the agent did not make", "symbol", t.Symbol, "entry", t.Entry, "was", shapeOf(e), "because", why)
		p.converge(t, e, nil)
	default:
		p.status(t, StateConflict, fmt.Sprintf("someone else engaged it as %q (%s); the policy wants %q: the agent leaves it alone (disengage it, or set adopt: true on the entry)",
			shapeOf(e), e.State, t.Command().String()))
	}
}

// converge changes an existing engagement into t. o is the agent's record,
// nil when adopting.
func (p *pass) converge(t policy.Target, e ksfs.Engagement, o *owned) {
	a := p.a
	if satisfies(t, e) {
		if o == nil {
			p.own(t, e)
		} else if o.Entry != t.Entry {
			o.Entry, p.dirty = t.Entry, true
		}
		p.status(t, fromModule(e.State), "")
		return
	}
	// Judge the new engagement before touching the one in place: a
	// refused change must not drop a working mitigation.
	if !p.ready(t) {
		return
	}
	switch {
	case t.Verb != ksfs.VerbObserve && e.State == ksfs.StateEngaged && e.Filter == ksfs.FormatFilters(t.Filters):
		err := a.client.SetRetval(t.Symbol, t.Retval)
		a.metrics.action("set_retval", err)
		if err != nil {
			p.kernelRefused(t, "set retval", err)
			return
		}
		p.log.Info("changed the return value", "symbol", t.Symbol, "entry", t.Entry, "from", ksfs.FormatRetval(e.Retval), "to", ksfs.FormatRetval(t.Retval))
		e.Retval = t.Retval
		p.own(t, e)
		p.status(t, StateEngaged, "")
	case t.Verb == ksfs.VerbEngage && e.State == ksfs.StateObserving:
		// The module converts an observed function in place.
		p.engage(t, &e)
	default:
		err := a.client.Do(ksfs.Disengage(t.Symbol))
		a.metrics.action("disengage", err)
		if err != nil && !errors.Is(err, ksfs.ErrNotEngaged) {
			p.kernelRefused(t, "disengage", err)
			return
		}
		p.log.Info("disengaged to engage anew", "symbol", t.Symbol, "entry", t.Entry, "was", shapeOf(e), "state", e.State, "hits", e.Hits)
		delete(a.st.Owned, t.Symbol)
		p.dirty = true
		p.engage(t, nil)
	}
}

// own records an engagement the agent now answers for.
func (p *pass) own(t policy.Target, e ksfs.Engagement) {
	o := p.record(t)
	o.Since, o.State, o.Engaged = int64(e.Since/time.Second), e.State, p.a.cfg.Now()
	p.a.st.Owned[t.Symbol] = o
	p.dirty = true
}

// record is the ownership record of t as the agent writes it.
func (p *pass) record(t policy.Target) *owned {
	o := &owned{
		Entry: t.Entry, Symbol: t.Symbol, Filter: ksfs.FormatFilters(t.Filters),
		Shape: shapeOfTarget(t), Verb: t.Verb, Command: t.Command().String(),
		Instance: p.inst, PolicyVersion: p.pol.Version,
	}
	if t.Verb != ksfs.VerbObserve {
		o.Retval = t.Retval
	}
	return o
}

// engage makes t. from is the observed engagement being converted, nil for
// a new one.
func (p *pass) engage(t policy.Target, from *ksfs.Engagement) {
	a := p.a
	start := time.Now()
	if !p.ready(t) {
		return
	}
	// Record the intent first, so a crash after the write leaves a
	// trace. Until since is read back the record proves nothing: an
	// engagement it cannot match is left alone, never taken over.
	o := p.record(t)
	a.st.Owned[t.Symbol] = o
	if err := a.st.save(a.statePath); err != nil {
		delete(a.st.Owned, t.Symbol)
		p.fail("state", t.Entry, err)
		p.status(t, StateFailed, "not engaged: the ownership record cannot be written: "+err.Error())
		return
	}
	err := a.client.Do(t.Command())
	a.metrics.action(string(t.Verb), err)
	if err != nil {
		delete(a.st.Owned, t.Symbol)
		p.dirty = true
		p.kernelRefused(t, string(t.Verb), err)
		return
	}
	o.Engaged = a.cfg.Now()
	o.State = ksfs.StateEngaged
	if e, err := a.client.Engagement(t.Symbol); err == nil {
		o.Since, o.State = int64(e.Since/time.Second), e.State
	} else {
		p.log.Warn("engaged, but cannot read back when: the agent will not treat this engagement as its own", "symbol", t.Symbol, "entry", t.Entry, "err", err)
	}
	p.dirty = true
	args := []any{"symbol", t.Symbol, "entry", t.Entry, "verb", t.Verb, "command", t.Command().String(),
		"took", time.Since(start).Round(time.Millisecond)}
	if t.CVE != "" {
		args = append(args, "cve", t.CVE)
	}
	if !t.Expires.IsZero() {
		args = append(args, "expires", t.Expires.UTC().Format(time.RFC3339))
	}
	msg := "engaged"
	switch {
	case from != nil:
		msg = "engaged (converted from observe, no gap)"
	case o.State == ksfs.StateProbing:
		msg = "probing: engages if nothing calls it within " + t.Probe.String()
	case o.State == ksfs.StateObserving:
		msg = "observing"
	}
	p.log.Info(msg, args...)
	p.status(t, fromModule(o.State), "")
}

// ready checks what must hold before t is engaged: its module loaded (or
// loaded now, with load: true) and pre-flight. It sets the status when
// not.
func (p *pass) ready(t policy.Target) bool {
	a := p.a
	if t.Module != "" && !moduleLoaded(a.cfg.FS, t.Module) && !p.loadTarget(t, t.Module) {
		return false
	}
	key := t.Command().String() + "|" + strconv.FormatBool(t.Force)
	if v, ok := a.verdicts[key]; ok && v.gen == a.targetGen {
		age := a.cfg.Now().Sub(v.at)
		switch {
		case v.reason == "" && age < passTTL:
			return true
		case v.reason != "" && age < refusalTTL:
			p.status(t, StateRefused, v.reason)
			return false
		}
	}
	req := preflight.Request{Symbol: t.Symbol, Filters: t.Filters, Observe: t.Verb == ksfs.VerbObserve, Force: t.Force, Module: t.Module}
	if !req.Observe {
		rv := t.Retval
		req.Retval = &rv
	}
	rep := p.preflight().Check(req)
	if rep.MissingModule != "" && rep.MissingModule != t.Module {
		if !p.loadTarget(t, rep.MissingModule) {
			return false
		}
		rep = p.preflight().Check(req)
	}
	if !a.warned[key] {
		for _, f := range rep.Findings {
			if f.Verdict == preflight.Warn {
				p.log.Warn("pre-flight warning", "symbol", t.Symbol, "entry", t.Entry, "check", f.Check, "warning", f.String())
			}
		}
		a.warned[key] = true
	}
	refusals := rep.Refusals()
	if len(refusals) == 0 {
		a.verdicts[key] = verdict{gen: a.targetGen, at: a.cfg.Now()}
		return true
	}
	var why []string
	for _, f := range refusals {
		why = append(why, f.Check+": "+f.String())
	}
	reason := "pre-flight refused it: " + strings.Join(why, "; ")
	a.verdicts[key] = verdict{reason: reason, gen: a.targetGen, at: a.cfg.Now()}
	p.status(t, StateRefused, reason)
	return false
}

// loadTarget loads the module holding a target, if the entry says so and
// the node's trust policy allows it.
func (p *pass) loadTarget(t policy.Target, module string) bool {
	a := p.a
	if !t.Load {
		p.status(t, StateWaiting, fmt.Sprintf("module %s, which holds %s, is not loaded: the agent engages %s as soon as it is (load: true loads it now)",
			module, t.Symbol, t.Symbol))
		return false
	}
	if err := a.cfg.Trust.ModuleLoad(t, module); err != nil {
		p.trustRefused(t, trust.Refusal{Entry: t.Entry, Symbol: t.Symbol, Reason: trust.ReasonModule, Message: err.Error()})
		return false
	}
	err := p.modprobe(module)
	a.metrics.action("modprobe", err)
	if err != nil {
		p.status(t, StateFailed, "cannot load the module that holds it: "+err.Error())
		return false
	}
	a.targetGen++
	p.log.Info("loaded the module holding a target", "module", module, "symbol", t.Symbol, "entry", t.Entry)
	return true
}

// modprobe loads a module, bounded in time: a hung modprobe must not stop
// the agent (its /healthz would then fail and the supervisor restart it).
func (p *pass) modprobe(module string) error {
	ctx, cancel := context.WithTimeout(p.ctx, modprobeTimeout)
	defer cancel()
	return p.a.cfg.Modprobe(ctx, module)
}

// preflight is the pre-flight host. It is kept across passes for a while:
// parsing the kernel's BTF is the costly part of a check, and it does not
// change until reboot.
func (p *pass) preflight() *preflight.Host {
	a := p.a
	if p.host == nil {
		if a.host == nil || time.Since(a.hostUsed) > hostTTL {
			a.host = preflight.NewHost(a.cfg.FS)
		}
		p.host = a.host
	}
	a.hostUsed = time.Now()
	return p.host
}

// kernelRefused reports a change the kernel refused.
func (p *pass) kernelRefused(t policy.Target, op string, err error) {
	state := StateFailed
	for _, kind := range []error{ksfs.ErrUnknownSymbol, ksfs.ErrProbeRefused, ksfs.ErrGuarded, ksfs.ErrLockdown,
		ksfs.ErrNotPermitted, ksfs.ErrMalformed, ksfs.ErrUnsupported} {
		if errors.Is(err, kind) {
			state = StateRefused
		}
	}
	args := []any{"symbol", t.Symbol, "entry", t.Entry, "op", op, "err", err.Error()}
	var ce *ksfs.CommandError
	if errors.As(err, &ce) && len(ce.KernelLog) > 0 {
		args = append(args, "kernel_log", strings.Join(ce.KernelLog, " | "))
	}
	p.log.Error("the kernel refused a change", args...)
	p.status(t, state, "the kernel refused "+op+": "+err.Error())
}

// prune disengages what the agent owns and the policy no longer wants,
// and with an exclusive policy everything else it does not want.
func (p *pass) prune(desired map[string]bool, sel *policy.Selection) {
	a := p.a
	for sym, o := range a.st.Owned {
		if desired[sym] {
			continue
		}
		why := "entry " + o.Entry + " is no longer in the policy"
		for _, sk := range sel.Skipped {
			if sk.Entry == o.Entry {
				why = "entry " + o.Entry + " " + string(sk.Reason) + ": " + sk.Detail
			}
		}
		if _, ok := p.pol.Entry(o.Entry); ok && !strings.Contains(why, ":") {
			why = "entry " + o.Entry + " no longer asks for " + sym
		}
		e := p.cur[sym]
		err := a.client.Do(ksfs.Disengage(sym))
		a.metrics.action("disengage", err)
		if err != nil && !errors.Is(err, ksfs.ErrNotEngaged) {
			p.fail("disengage", o.Entry, fmt.Errorf("disengage %s (%s): %w", sym, why, err))
			continue
		}
		delete(a.st.Owned, sym)
		p.dirty = true
		p.log.Info("disengaged", "symbol", sym, "entry", o.Entry, "because", why, "hits", e.Hits, "missed", e.Missed)
	}
	if !p.pol.Exclusive {
		return
	}
	others := make([]ksfs.Engagement, 0, len(p.cur)+len(p.bpf))
	for sym, e := range p.cur {
		if !desired[sym] && a.st.Owned[sym] == nil {
			others = append(others, e)
		}
	}
	for _, e := range p.bpf {
		if !desired[e.Symbol] {
			others = append(others, e)
		}
	}
	for _, e := range others {
		_, err := a.client.Disengage(e.Symbol)
		a.metrics.action("disengage", err)
		if err != nil && !errors.Is(err, ksfs.ErrNotEngaged) {
			p.fail("disengage", "", fmt.Errorf("disengage %s (the policy is exclusive): %w", e.Symbol, err))
			continue
		}
		args := []any{"symbol", e.Symbol, "because", "the policy is exclusive and does not ask for it", "hits", e.Hits}
		if e.BPFPin != "" {
			args = append(args, "bpf_pin", e.BPFPin)
		}
		p.log.Info("disengaged an engagement the agent did not make", args...)
	}
}

// trustRefused reports a target the node's trust policy refuses.
func (p *pass) trustRefused(t policy.Target, rs ...trust.Refusal) {
	var why []string
	for _, r := range rs {
		why = append(why, r.Message)
	}
	p.refused = append(p.refused, rs...)
	p.errs["trust"]++
	p.status(t, StateRefused, "this node's trust policy refuses it: "+strings.Join(why, "; "))
}

// status records where a target stands.
func (p *pass) status(t policy.Target, s TargetState, reason string) {
	p.statuses.set(Status{Entry: t.Entry, Symbol: t.Symbol, State: s, Reason: reason})
	if s.problem() {
		p.errs[string(s)]++
	}
}

// fail records a problem that is not one target's.
func (p *pass) fail(reason, entry string, err error) {
	p.errs[reason]++
	a := p.a
	key := reason + "|" + entry
	msg := err.Error()
	if a.failures[key] == msg {
		return
	}
	a.failures[key] = msg
	args := []any{"err", msg}
	if entry != "" {
		args = append(args, "entry", entry)
	}
	p.log.Error("reconcile failed: "+reason, args...)
}

// publish logs what changed since the last pass and updates the view the
// metrics read.
func (a *Agent) publish(p *pass, why string, took time.Duration) {
	log := a.logger()
	for k, st := range p.statuses {
		old, seen := a.statuses[k]
		if seen && old.State == st.State && old.Reason == st.Reason {
			continue
		}
		switch st.State {
		case StateEngaged, StateProbing, StateObserving:
			// The action's own line said it.
		default:
			log.Log(context.Background(), st.State.level(), "target "+string(st.State), "entry", st.Entry, "symbol", st.Symbol, "reason", st.Reason)
		}
	}
	// Failures of earlier passes that did not recur are over.
	for key := range a.failures {
		reason, _, _ := strings.Cut(key, "|")
		if reason != "policy" && reason != "modprobe" && p.errs[reason] == 0 {
			delete(a.failures, key)
		}
	}
	a.statuses = p.statuses
	for reason, n := range p.errs {
		a.metrics.reconcileErrors.WithLabelValues(reason).Add(float64(n))
	}
	a.metrics.reconciles.Inc()
	a.metrics.duration.Observe(took.Seconds())

	owned := make(map[string]string, len(a.st.Owned))
	for sym, o := range a.st.Owned {
		owned[sym] = o.Entry
	}
	applied := p.pol != nil && len(p.errs) == 0
	if p.pol != nil && a.reported != p.pol.Version+"|"+strconv.FormatBool(applied) {
		a.reported = p.pol.Version + "|" + strconv.FormatBool(applied)
		if applied {
			log.Info("policy applied", "trigger", why, "took", took.Round(time.Millisecond), "targets", len(p.statuses))
		} else {
			log.Warn("policy applied with problems: see the target lines", "trigger", why, "problems", len(p.errs))
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.view.statuses = p.statuses.sorted()
	a.view.refused = p.refused
	a.view.owned = owned
	a.view.lastReconcile = a.cfg.Now()
	a.view.applied = applied
	if applied && a.view.appliedVersion != p.pol.Version {
		a.view.appliedVersion = p.pol.Version
		a.view.appliedAt = a.cfg.Now()
	}
}
