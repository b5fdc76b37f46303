package guest

import (
	"strconv"
	"strings"
	"time"
)

// Config is what ks-vminit reads from the kernel command line.
type Config struct {
	Label        string
	Arch         string
	Results      string
	SuiteTimeout time.Duration
	SuitesDir    string
	WorkDir      string
	// Env holds the ks.env=KEY=VAL items, "KEY=VAL" each, in order: the
	// host's per-kernel settings for the suites.
	Env []string
}

const defaultSuiteTimeout = 300 * time.Second

// maxSuiteSeconds bounds ks.suite_timeout: a week; more would overflow
// time.Duration soon enough, and nothing runs that long.
const maxSuiteSeconds = 7 * 24 * 60 * 60

// ParseCmdline extracts the ks.* parameters from /proc/cmdline's content.
// Unknown or malformed values fall back to defaults: init has nobody to
// report a configuration error to except the results channel itself.
func ParseCmdline(cmdline string) Config {
	c := Config{
		Label:        "unknown",
		Arch:         "x86_64",
		Results:      "/dev/ttyS1",
		SuiteTimeout: defaultSuiteTimeout,
		SuitesDir:    "/ks/suites",
		WorkDir:      "/ks",
	}
	for _, f := range strings.Fields(cmdline) {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch key {
		case "ks.label":
			c.Label = val
		case "ks.arch":
			c.Arch = val
		case "ks.results":
			c.Results = val
		case "ks.env":
			if k, _, ok := strings.Cut(val, "="); ok && strings.HasPrefix(k, "KS_") {
				c.Env = append(c.Env, val)
			}
		case "ks.suite_timeout":
			if n, err := strconv.Atoi(val); err == nil && n > 0 {
				c.SuiteTimeout = time.Duration(min(n, maxSuiteSeconds)) * time.Second
			}
		}
	}
	return c
}
