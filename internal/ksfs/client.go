package ksfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/killswitch/killswitch/internal/hostfs"
)

// Host paths of the interface.
const (
	// Dir is the module's securityfs directory.
	Dir = "/sys/kernel/security/killswitch"
	// BPFDir holds the pins of engagebpf engagements, one per symbol.
	BPFDir = "/sys/fs/bpf/killswitch"
	// LockdownFile is the lockdown LSM's level.
	LockdownFile = "/sys/kernel/security/lockdown"
	// KernelLogFile is read for the lines the module and its helper log
	// while they handle a request.
	KernelLogFile = "/dev/kmsg"
)

// Client speaks the securityfs protocol.
type Client struct {
	fs hostfs.FS
}

// New returns a client for the interface as fsys shows it: hostfs.Dir("/")
// for the running kernel.
func New(fsys hostfs.FS) *Client {
	return &Client{fs: fsys}
}

// Loaded reports whether the module's interface is present.
func (c *Client) Loaded() bool {
	return hostfs.Exists(c.fs, Dir+"/control")
}

// Ready returns nil if the module's interface is present, else an error
// that says how to get it, attributed to op.
func (c *Client) Ready(op string) error {
	if c.Loaded() {
		return nil
	}
	return notLoadedError(op, "")
}

// Taint reads the taint file: true while the module is loaded.
func (c *Client) Taint() (bool, error) {
	b, err := c.fs.ReadFile(Dir + "/taint")
	if err != nil {
		return false, fmt.Errorf("read taint: %w", err)
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

// Lockdown reads the kernel's lockdown level; LockdownNone if the lockdown
// LSM is absent.
func (c *Client) Lockdown() (Lockdown, error) {
	b, err := c.fs.ReadFile(LockdownFile)
	if errors.Is(err, fs.ErrNotExist) {
		return LockdownNone, nil
	}
	if err != nil {
		return "", fmt.Errorf("read lockdown level: %w", err)
	}
	return ParseLockdown(string(b))
}

// Engage makes sym return retval for the callers the filters select.
func (c *Client) Engage(sym string, retval int64, filters ...Filter) error {
	return c.Do(Engage(sym, retval, filters...))
}

// TryEngage probes sym for probe, counting the calls the filters select;
// the module commits the engagement if there were none, aborts otherwise.
// It returns once the probe is installed; Engagement shows the countdown.
func (c *Client) TryEngage(sym string, retval int64, probe time.Duration, filters ...Filter) error {
	return c.Do(TryEngage(sym, retval, probe, filters...))
}

// Observe counts calls to sym and records its callers, never overriding.
func (c *Client) Observe(sym string) error {
	return c.Do(Observe(sym))
}

// EngageBPF has the module run ks-bpf-load to attach the BPF object at
// path to sym. On failure the error carries the helper's reason from the
// kernel log.
func (c *Client) EngageBPF(sym, path string) error {
	return c.Do(EngageBPF(sym, path))
}

// Do validates and writes one control line.
func (c *Client) Do(cmd Command) error {
	if err := cmd.Validate(); err != nil {
		return &CommandError{
			Op: string(cmd.Verb), Symbol: cmd.Symbol, Kind: ErrMalformed, Errno: syscall.EINVAL,
			Reason: strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": "),
		}
	}
	return c.write(string(cmd.Verb), cmd.Symbol, Dir+"/control", cmd.String()+"\n")
}

// SetRetval changes the value an engagement returns, live.
func (c *Client) SetRetval(sym string, retval int64) error {
	if err := ValidateSymbol(sym); err != nil {
		return &CommandError{Op: "retval", Symbol: sym, Kind: ErrMalformed, Errno: syscall.EINVAL, Reason: err.Error()}
	}
	if c.Loaded() && !hostfs.Exists(c.fs, fnDir(sym)) {
		e := &CommandError{Op: "retval", Symbol: sym, Errno: syscall.ENOENT}
		e.explain(LockdownNone)
		return e
	}
	return c.write("retval", sym, fnDir(sym)+"/retval", strconv.FormatInt(retval, 10)+"\n")
}

// Disengage ends the engagement of sym: the module's, and the BPF pin if
// there is one. It returns what was removed, as last seen.
func (c *Client) Disengage(sym string) ([]Engagement, error) {
	if err := ValidateSymbol(sym); err != nil {
		return nil, &CommandError{Op: string(VerbDisengage), Symbol: sym, Kind: ErrMalformed, Errno: syscall.EINVAL, Reason: err.Error()}
	}

	var gone []Engagement
	var modErr error
	if c.Loaded() {
		last := Engagement{Symbol: sym, State: StateEngaged}
		readErr := c.readFn(&last)
		modErr = c.Do(Disengage(sym))
		if modErr == nil {
			if readErr != nil {
				last = Engagement{Symbol: sym, State: StateEngaged}
			}
			gone = append(gone, last)
		}
	} else {
		modErr = notLoadedError(string(VerbDisengage), sym)
	}

	pin, err := PinPath(sym)
	if err != nil {
		return gone, fmt.Errorf("disengage %s: %w", sym, err)
	}
	if hostfs.Exists(c.fs, pin) {
		if err := c.fs.RemoveAll(pin); err != nil {
			return gone, fmt.Errorf("disengage %s: remove BPF pin %s: %w", sym, pin, err)
		}
		gone = append(gone, Engagement{Symbol: sym, State: StateEngaged, BPFPin: pin})
		if errors.Is(modErr, ErrNotEngaged) || errors.Is(modErr, ErrModuleNotLoaded) {
			modErr = nil
		}
	}
	return gone, modErr
}

// DisengageAll ends every engagement, BPF pins included, and returns what
// was removed, as last seen.
func (c *Client) DisengageAll() ([]Engagement, error) {
	var gone []Engagement
	if c.Loaded() {
		before, err := c.moduleEngagements()
		if err != nil {
			before = nil
		}
		if err := c.Do(DisengageAll()); err != nil {
			return nil, err
		}
		gone = append(gone, before...)
	}

	pins, err := c.BPFEngagements()
	if err != nil {
		return gone, fmt.Errorf("disengage_all: %w", err)
	}
	for _, p := range pins {
		if _, err := PinPath(path.Base(p.BPFPin)); err != nil || path.Dir(p.BPFPin) != BPFDir {
			return gone, fmt.Errorf("disengage_all: BPF pin %q is not a file under %s: left alone", p.BPFPin, BPFDir)
		}
		if err := c.fs.RemoveAll(p.BPFPin); err != nil {
			return gone, fmt.Errorf("disengage_all: remove BPF pin %s: %w", p.BPFPin, err)
		}
		gone = append(gone, p)
	}
	if !c.Loaded() && len(pins) == 0 {
		return nil, notLoadedError(string(VerbDisengageAll), "")
	}
	return gone, nil
}

// write performs one write and turns a failure into a *CommandError,
// with the kernel log lines the module wrote meanwhile.
func (c *Client) write(op, sym, file, data string) error {
	mark, markOK := c.logMark()
	err := c.fs.WriteFile(file, []byte(data))
	if err == nil {
		return nil
	}
	if !c.Loaded() {
		return notLoadedError(op, sym)
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("%s %s: write %s: %w", op, sym, file, err)
	}
	ce := &CommandError{Op: op, Symbol: sym, Errno: errno}
	if markOK {
		ce.KernelLog = c.logSince(mark)
	}
	lockdown, lerr := c.Lockdown()
	if lerr != nil {
		lockdown = LockdownNone
	}
	ce.explain(lockdown)
	return ce
}

// logMark returns the sequence number of the newest kernel log record.
func (c *Client) logMark() (uint64, bool) {
	b, err := c.fs.ReadFile(KernelLogFile)
	if err != nil {
		return 0, false
	}
	recs := ParseKmsg(string(b))
	if len(recs) == 0 {
		return 0, true
	}
	return recs[len(recs)-1].Seq, true
}

// logSince returns the killswitch and ks-bpf-load lines logged after mark.
func (c *Client) logSince(mark uint64) []string {
	b, err := c.fs.ReadFile(KernelLogFile)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range ParseKmsg(string(b)) {
		if r.Seq > mark && relevant(r.Message) {
			out = append(out, r.Message)
		}
	}
	return out
}

func fnDir(sym string) string { return Dir + "/fn/" + sym }

// Engagements lists what the module holds, then the BPF engagements. With
// the module not loaded it lists only the BPF ones.
func (c *Client) Engagements() ([]Engagement, error) {
	var out []Engagement
	if c.Loaded() {
		mod, err := c.moduleEngagements()
		if err != nil {
			return nil, err
		}
		out = mod
	}
	bpf, err := c.BPFEngagements()
	if err != nil {
		return nil, err
	}
	return append(out, bpf...), nil
}

// EngagedList reads the engaged file alone: one read however many entries
// there are, each with what its line says (symbol, retval, hits, filter,
// passed, state), without the fn/<sym>/ details Engagements adds.
func (c *Client) EngagedList() ([]Engagement, error) {
	b, err := c.fs.ReadFile(Dir + "/engaged")
	if err != nil {
		return nil, fmt.Errorf("read engagements: %w", err)
	}
	list, err := ParseEngaged(string(b))
	if err != nil {
		return nil, fmt.Errorf("read engagements: %w", err)
	}
	return list, nil
}

// moduleEngagements reads engaged and completes each line from fn/<sym>/.
func (c *Client) moduleEngagements() ([]Engagement, error) {
	list, err := c.EngagedList()
	if err != nil {
		return nil, err
	}
	for i := range list {
		// The engagement may end between the two reads; the line
		// still says what it was.
		if err := c.readFn(&list[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return list, nil
}

// Engagement reads one engagement: the module's, or else a BPF pin.
// It returns an error wrapping ErrNotEngaged if there is neither.
func (c *Client) Engagement(sym string) (Engagement, error) {
	if err := ValidateSymbol(sym); err != nil {
		return Engagement{}, fmt.Errorf("read engagement: %w", err)
	}
	e := Engagement{Symbol: sym, State: StateEngaged}
	err := c.readFn(&e)
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Engagement{}, err
	}
	if pin, err := PinPath(sym); err == nil && hostfs.Exists(c.fs, pin) {
		return Engagement{Symbol: sym, State: StateEngaged, BPFPin: pin}, nil
	}
	if !c.Loaded() {
		return Engagement{}, notLoadedError("read", sym)
	}
	return Engagement{}, &CommandError{Op: "read", Symbol: sym, Kind: ErrNotEngaged, Errno: syscall.ENOENT,
		Reason: "not engaged", Fix: "killswitch status lists what is"}
}

// readFn fills e from fn/<sym>/. Files a module version lacks keep their
// zero value (or what the engaged line said); a missing directory is an
// error wrapping fs.ErrNotExist.
func (c *Client) readFn(e *Engagement) error {
	dir := fnDir(e.Symbol)
	if _, err := c.fs.Stat(dir); err != nil {
		return fmt.Errorf("read %s: %w", e.Symbol, err)
	}
	missing := false
	read := func(name string, parse func(string) error) error {
		b, err := c.fs.ReadFile(dir + "/" + name)
		if errors.Is(err, fs.ErrNotExist) {
			missing = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s/%s: %w", e.Symbol, name, err)
		}
		if err := parse(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("read %s/%s: %w", e.Symbol, name, err)
		}
		return nil
	}
	count := func(dst *uint64) func(string) error {
		return func(s string) (err error) { *dst, err = parseCount(s); return }
	}
	seconds := func(dst *time.Duration) func(string) error {
		return func(s string) (err error) { *dst, err = parseSeconds(s); return }
	}
	err := errors.Join(
		read("retval", func(s string) (err error) { e.Retval, err = ParseRetval(s); return }),
		read("state", func(s string) (err error) { e.State, err = ParseState(s); return }),
		read("hits", count(&e.Hits)),
		read("passed", count(&e.Passed)),
		read("missed", count(&e.Missed)),
		read("timeout_left", seconds(&e.TimeoutLeft)),
		read("since", seconds(&e.Since)),
		read("filter", func(s string) error {
			if _, err := ParseFilters(s); err != nil {
				return err
			}
			if s == "-" || s == "none" {
				s = ""
			}
			e.Filter = s
			return nil
		}),
	)
	// A file may be missing because this module version lacks it, or
	// because the entry went away while we read (a tryengage window
	// aborting): then its defaults (state engaged) would be a lie.
	if missing {
		if _, serr := c.fs.Stat(dir); serr != nil {
			return fmt.Errorf("read %s: %w", e.Symbol, serr)
		}
	}
	return err
}

// Callers reads the recent distinct callers of an engagement
// (fn/<sym>/callers); nil if the module does not record them.
func (c *Client) Callers(sym string) ([]Caller, error) {
	if err := ValidateSymbol(sym); err != nil {
		return nil, fmt.Errorf("read callers: %w", err)
	}
	b, err := c.fs.ReadFile(fnDir(sym) + "/callers")
	if errors.Is(err, fs.ErrNotExist) {
		if !hostfs.Exists(c.fs, fnDir(sym)) {
			return nil, fmt.Errorf("read callers of %s: %w", sym, ErrNotEngaged)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read callers of %s: %w", sym, err)
	}
	return ParseCallers(string(b))
}

// PinPath is where the engagebpf pin of sym lives: one element under
// BPFDir, never BPFDir itself or anything outside it, whatever sym holds
// (RemoveAll runs on it as root).
func PinPath(sym string) (string, error) {
	if err := ValidateSymbol(sym); err != nil {
		return "", fmt.Errorf("BPF pin path: %w", err)
	}
	pin := path.Join(BPFDir, sym)
	if path.Dir(pin) != BPFDir || path.Base(pin) != sym {
		return "", fmt.Errorf("BPF pin path for %q: %s is not a file directly under %s (a symbol is one path element)", sym, pin, BPFDir)
	}
	return pin, nil
}

// BPFEngagements lists the engagebpf pins under BPFDir.
func (c *Client) BPFEngagements() ([]Engagement, error) {
	ents, err := c.fs.ReadDir(BPFDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list BPF engagements: %w", err)
	}
	var out []Engagement
	for _, ent := range ents {
		if ValidateSymbol(ent.Name()) != nil {
			continue
		}
		out = append(out, Engagement{
			Symbol: ent.Name(),
			State:  StateEngaged,
			BPFPin: path.Join(BPFDir, ent.Name()),
		})
	}
	return out, nil
}
