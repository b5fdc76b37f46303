package ksfs

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxFilterArg is the highest argument a filter can test (arg1..arg6).
const MaxFilterArg = 6

// MaxFilters is how many filters one engagement can carry.
const MaxFilters = 6

// Filter is one caller condition on an engagement. All filters of an
// engagement must hold for the override to apply; otherwise the function
// runs and the call counts as passed.
type Filter struct {
	// Arg is the 1-based argument the filter tests, or 0 for the caller's
	// uid in the initial user namespace.
	Arg int
	// Negate selects != instead of =.
	Negate bool
	// Value is compared with the argument (as a signed long) or the uid.
	Value int64
	// Int32 compares only the low 32 bits of the argument (arg<N>:32): the
	// register of an int argument defines no more. Otherwise all 64 bits
	// count, so a size_t of 0x100000000 is not 0.
	Int32 bool
}

// Field names what the filter tests: "uid" or "arg<N>".
func (f Filter) Field() string {
	if f.Arg == 0 {
		return "uid"
	}
	if f.Int32 {
		return "arg" + strconv.Itoa(f.Arg) + ":32"
	}
	return "arg" + strconv.Itoa(f.Arg)
}

// String renders the filter in control grammar: "uid!=0", "arg1:32=38".
func (f Filter) String() string {
	op := "="
	if f.Negate {
		op = "!="
	}
	return f.Field() + op + strconv.FormatInt(f.Value, 10)
}

// Validate checks the filter against the module's rules.
func (f Filter) Validate() error {
	switch {
	case f.Arg < 0 || f.Arg > MaxFilterArg:
		return fmt.Errorf("filter %s: arguments are arg1..arg%d", f, MaxFilterArg)
	case f.Arg == 0 && (f.Value < 0 || f.Value > 1<<32-1):
		return fmt.Errorf("filter %s: uid must be within 0..4294967295", f)
	case f.Arg == 0 && f.Int32:
		return fmt.Errorf("filter %s: only arguments take :32 (a uid is always 32 bits)", f)
	case f.Int32 && (f.Value < -1<<31 || f.Value > 1<<32-1):
		return fmt.Errorf("filter %s: %d does not fit the 32 bits that :32 compares", f, f.Value)
	}
	return nil
}

// ParseFilter parses one filter in control grammar: uid=<n>, uid!=<n>,
// arg<N>=<v>, arg<N>!=<v> with N in 1..6, and arg<N>:32 for an argument
// whose low 32 bits alone count (an int). Values are numbers as for
// ParseRetval. It splits at the first '=' like the module
// (ks_parse_filter in kernel/ks_control.c).
func ParseFilter(s string) (Filter, error) {
	i := strings.IndexByte(s, '=')
	if i < 0 {
		return Filter{}, fmt.Errorf("filter %q: want uid=<n>, uid!=<n>, arg<N>=<v> or arg<N>!=<v>", s)
	}
	field, value, negate := s[:i], s[i+1:], false
	if strings.HasSuffix(field, "!") {
		field, negate = field[:len(field)-1], true
	}

	var f Filter
	f.Negate = negate
	switch {
	case field == "uid":
	case strings.HasPrefix(field, "arg") && (len(field) == 4 || len(field) == 7 && field[4:] == ":32") &&
		field[3] >= '1' && field[3] <= '0'+MaxFilterArg:
		f.Arg = int(field[3] - '0')
		f.Int32 = len(field) == 7
	default:
		return Filter{}, fmt.Errorf("filter %q: %q is not uid or arg1..arg%d", s, field, MaxFilterArg)
	}

	v, err := ParseRetval(value)
	if err != nil {
		return Filter{}, fmt.Errorf("filter %q: %w", s, err)
	}
	f.Value = v
	if err := f.Validate(); err != nil {
		return Filter{}, err
	}
	return f, nil
}

// ParseFilters parses a list of filters as the module shows them in engaged
// and fn/<sym>/filter (comma-separated), or as typed in control grammar
// (space-separated). An empty list,
// "-" and "none" mean no filter.
func ParseFilters(s string) ([]Filter, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == ','
	})
	if len(fields) == 1 && (fields[0] == "-" || fields[0] == "none") {
		return nil, nil
	}
	var out []Filter
	for _, field := range fields {
		f, err := ParseFilter(field)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// FormatFilters renders filters the way the module shows them in engaged
// and fn/<sym>/filter: comma-separated ("uid!=0,arg1=38").
func FormatFilters(fs []Filter) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}
