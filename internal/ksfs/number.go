package ksfs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MaxProbe is the longest tryengage window the module accepts.
const MaxProbe = 86400 * time.Second

// MaxErrno is the largest errno a kernel function can return encoded as a
// negative value or an ERR_PTR (include/linux/err.h).
const MaxErrno = 4095

// ParseRetval parses a return value the way the module does
// (ks_parse_long in kernel/ks_control.c): an optional sign, then decimal
// digits or 0x-hex digits. Decimal is always decimal ("010" is ten, there
// is no octal), a hex number may use the full 64-bit pattern
// (0xffffffffffffffff is -1), and a negative one must fit a signed long.
func ParseRetval(s string) (int64, error) {
	neg := false
	body := s
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg, body = body[0] == '-', body[1:]
	}

	base, digits := 10, body
	if strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X") {
		base, digits = 16, body[2:]
	}
	if !allDigits(digits, base) {
		return 0, fmt.Errorf("%q is not a number: want a signed decimal or 0x-hex value such as -1 or 0x10", s)
	}
	u, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range for a signed long", s)
	}
	switch {
	case neg && u > 1<<63:
		return 0, fmt.Errorf("%q is out of range for a signed long", s)
	case neg:
		return -int64(u), nil
	case base == 10 && u > 1<<63-1:
		return 0, fmt.Errorf("%q is out of range for a signed long (write it as a negative number or in 0x-hex)", s)
	}
	return int64(u), nil
}

// allDigits reports whether s is a non-empty run of digits in base 10 or 16.
func allDigits(s string, base int) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}

// ParseProbe parses the T of tryengage: whole seconds, 0..86400. A Go
// duration such as "90s" or "5m" is accepted too when it is whole seconds.
func ParseProbe(s string) (time.Duration, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		d := time.Duration(n) * time.Second
		return d, checkProbe(d)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("probe time %q: want seconds (0..86400) or a duration such as 90s or 5m", s)
	}
	return d, checkProbe(d)
}

func checkProbe(d time.Duration) error {
	if d < 0 || d > MaxProbe {
		return fmt.Errorf("probe time %v: must be within 0..86400 seconds", d)
	}
	if d%time.Second != 0 {
		return fmt.Errorf("probe time %v: must be whole seconds", d)
	}
	return nil
}

// ErrnoName names a negative errno value ("-1" → "EPERM"), or returns "" if
// v is not one.
func ErrnoName(v int64) string {
	if v >= 0 || v < -MaxErrno {
		return ""
	}
	return unix.ErrnoName(unix.Errno(-v))
}

// FormatRetval renders a return value for people: "-1 (EPERM)".
func FormatRetval(v int64) string {
	if name := ErrnoName(v); name != "" {
		return fmt.Sprintf("%d (%s)", v, name)
	}
	return strconv.FormatInt(v, 10)
}
