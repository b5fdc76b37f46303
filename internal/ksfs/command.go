package ksfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Verb is the first word of a control line.
type Verb string

// The control verbs (SPEC §3 and §5.2).
const (
	VerbEngage       Verb = "engage"
	VerbTryEngage    Verb = "tryengage"
	VerbObserve      Verb = "observe"
	VerbEngageBPF    Verb = "engagebpf"
	VerbDisengage    Verb = "disengage"
	VerbDisengageAll Verb = "disengage_all"
)

// MaxSymbolLen is the longest symbol name accepted: KSYM_NAME_LEN (512
// since 6.1, for Rust's long mangled names) less the terminating NUL, the
// same bound the module's parser uses.
const MaxSymbolLen = 511

// maxPath is PATH_MAX less the terminating NUL.
const maxPath = 4095

// maxLine bounds a control line: the longest valid one is engagebpf with
// the longest symbol and path.
const maxLine = len(VerbEngageBPF) + 1 + MaxSymbolLen + 1 + maxPath + 1

// ErrMalformed is wrapped by every local validation error: the line would
// be refused with EINVAL by the module.
var ErrMalformed = errors.New("malformed command")

// Command is one control line.
type Command struct {
	Verb   Verb
	Symbol string
	// Retval is the value the function returns (engage, tryengage).
	Retval int64
	// Probe is the tryengage window, whole seconds within 0..MaxProbe.
	Probe time.Duration
	// Filters restrict the override to some callers (engage, tryengage).
	Filters []Filter
	// Object is the BPF object path of engagebpf.
	Object string
}

// Engage returns the command that engages sym.
func Engage(sym string, retval int64, filters ...Filter) Command {
	return Command{Verb: VerbEngage, Symbol: sym, Retval: retval, Filters: filters}
}

// TryEngage returns the command that probes sym for probe, then engages it
// if nothing called it.
func TryEngage(sym string, retval int64, probe time.Duration, filters ...Filter) Command {
	return Command{Verb: VerbTryEngage, Symbol: sym, Retval: retval, Probe: probe, Filters: filters}
}

// Observe returns the command that counts calls to sym without overriding.
func Observe(sym string) Command { return Command{Verb: VerbObserve, Symbol: sym} }

// EngageBPF returns the command that has ks-bpf-load attach the BPF object
// at path to sym.
func EngageBPF(sym, path string) Command {
	return Command{Verb: VerbEngageBPF, Symbol: sym, Object: path}
}

// Disengage returns the command that ends the engagement of sym.
func Disengage(sym string) Command { return Command{Verb: VerbDisengage, Symbol: sym} }

// DisengageAll returns the command that ends every engagement.
func DisengageAll() Command { return Command{Verb: VerbDisengageAll} }

// String renders the control line, without the trailing newline.
func (c Command) String() string {
	var b strings.Builder
	b.WriteString(string(c.Verb))
	if c.Verb != VerbDisengageAll {
		b.WriteString(" " + c.Symbol)
	}
	switch c.Verb {
	case VerbEngage, VerbTryEngage:
		b.WriteString(" " + strconv.FormatInt(c.Retval, 10))
		if c.Verb == VerbTryEngage {
			b.WriteString(" " + strconv.FormatInt(int64(c.Probe/time.Second), 10))
		}
		for _, f := range c.Filters {
			b.WriteString(" " + f.String())
		}
	case VerbEngageBPF:
		b.WriteString(" " + c.Object)
	}
	return b.String()
}

// Validate checks the command with the rules the module applies, so a bad
// line is refused with a useful message before anything is written.
func (c Command) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

func (c Command) validate() error {
	switch c.Verb {
	case VerbEngage, VerbTryEngage, VerbObserve, VerbEngageBPF, VerbDisengage:
		if err := ValidateSymbol(c.Symbol); err != nil {
			return err
		}
	case VerbDisengageAll:
		if c.Symbol != "" {
			return errors.New("disengage_all takes no symbol")
		}
	default:
		return fmt.Errorf("unknown verb %q (want engage, tryengage, observe, engagebpf, disengage or disengage_all)", c.Verb)
	}

	if c.Verb != VerbTryEngage && c.Probe != 0 {
		return fmt.Errorf("%s takes no probe time", c.Verb)
	}
	if c.Verb == VerbTryEngage {
		if err := checkProbe(c.Probe); err != nil {
			return err
		}
	}
	if c.Verb != VerbEngage && c.Verb != VerbTryEngage {
		if c.Retval != 0 {
			return fmt.Errorf("%s takes no return value", c.Verb)
		}
		if len(c.Filters) != 0 {
			return fmt.Errorf("%s takes no filters", c.Verb)
		}
	}
	if len(c.Filters) > MaxFilters {
		return fmt.Errorf("%d filters: an engagement carries at most %d", len(c.Filters), MaxFilters)
	}
	for _, f := range c.Filters {
		if err := f.Validate(); err != nil {
			return err
		}
	}

	if c.Verb == VerbEngageBPF {
		if c.Object == "" {
			return errors.New("engagebpf needs the path of a .bpf.o object")
		}
		if !printable(c.Object) {
			return fmt.Errorf("BPF object path %q: the control grammar carries only printable ASCII without spaces (rename or link the file)", c.Object)
		}
		if !strings.HasPrefix(c.Object, "/") {
			// The helper runs with / as working directory.
			return fmt.Errorf("BPF object path %q must be absolute", c.Object)
		}
		if len(c.Object) > maxPath {
			return fmt.Errorf("BPF object path is %d bytes, longer than PATH_MAX", len(c.Object))
		}
	} else if c.Object != "" {
		return fmt.Errorf("%s takes no BPF object", c.Verb)
	}

	return nil
}

// printable reports whether s is non-empty printable ASCII without spaces:
// what the module accepts inside a token.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidateSymbol checks that sym can name a kernel function in a control
// line: 1..127 characters from [A-Za-z0-9_.:] (ks_parse_sym in
// kernel/ks_control.c).
func ValidateSymbol(sym string) error {
	if sym == "" {
		return errors.New("missing symbol")
	}
	if len(sym) > MaxSymbolLen {
		return fmt.Errorf("symbol %.40q... is %d characters, longer than any kernel symbol (%d)", sym, len(sym), MaxSymbolLen)
	}
	if strings.Trim(sym, ".") == "" {
		// "." and ".." name directories, not functions: the symbol
		// becomes a path (fn/<sym>, the BPF pin) and must stay one
		// element of it.
		return fmt.Errorf("symbol %q: a name made only of dots is a directory, not a kernel function", sym)
	}
	for _, r := range sym {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '_', r == '.', r == ':', r == '@':
		default:
			return fmt.Errorf("symbol %q: character %q cannot be part of a kernel symbol", sym, r)
		}
	}
	return nil
}

// ParseCommand parses a control line as the module does: tokens separated
// by spaces or tabs, one trailing newline allowed, nothing extra.
func ParseCommand(line string) (Command, error) {
	c, err := parseCommand(line)
	if err != nil {
		return Command{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return c, nil
}

func parseCommand(line string) (Command, error) {
	if len(line) > maxLine {
		return Command{}, fmt.Errorf("line is %d bytes, longer than %d", len(line), maxLine)
	}
	body := strings.TrimSuffix(line, "\n")
	for i := 0; i < len(body); i++ {
		if c := body[i]; c != ' ' && c != '\t' && (c < 0x21 || c > 0x7e) {
			return Command{}, fmt.Errorf("byte %#x at offset %d: only printable ASCII, spaces and tabs are allowed", c, i)
		}
	}
	tok := strings.FieldsFunc(body, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(tok) == 0 {
		return Command{}, errors.New("empty line")
	}

	c := Command{Verb: Verb(tok[0])}
	want := func(min, max int) error {
		if len(tok) < min || len(tok) > max {
			return fmt.Errorf("%s: wrong number of arguments in %q", c.Verb, body)
		}
		return nil
	}
	var err error
	switch c.Verb {
	case VerbDisengageAll:
		err = want(1, 1)
	case VerbObserve, VerbDisengage:
		err = want(2, 2)
	case VerbEngageBPF:
		if err = want(3, 3); err == nil {
			c.Object = tok[2]
		}
	case VerbEngage, VerbTryEngage:
		first := 3
		if c.Verb == VerbTryEngage {
			first = 4
		}
		if err = want(first, first+MaxFilters); err != nil {
			break
		}
		if c.Retval, err = ParseRetval(tok[2]); err != nil {
			break
		}
		if c.Verb == VerbTryEngage {
			n, perr := strconv.ParseUint(tok[3], 10, 32)
			if perr != nil || n > uint64(MaxProbe/time.Second) {
				err = fmt.Errorf("probe time %q: want whole seconds within 0..86400", tok[3])
				break
			}
			c.Probe = time.Duration(n) * time.Second
		}
		for _, t := range tok[first:] {
			f, ferr := ParseFilter(t)
			if ferr != nil {
				err = ferr
				break
			}
			c.Filters = append(c.Filters, f)
		}
	default:
		return Command{}, fmt.Errorf("unknown verb %q", tok[0])
	}
	if err != nil {
		return Command{}, err
	}
	if len(tok) > 1 {
		c.Symbol = tok[1]
	}
	if err := c.validate(); err != nil {
		return Command{}, err
	}
	return c, nil
}
