package preflight

import (
	"strings"
)

// ParseFilterFunctions reports whether name (in module, if not empty) is
// in available_filter_functions: "<name>" or "<name> [<module>]" per line.
func ParseFilterFunctions(data, name, module string) bool {
	for len(data) > 0 {
		var line string
		line, data, _ = strings.Cut(data, "\n")
		if !strings.HasPrefix(line, name) {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != name {
			continue
		}
		if module == "" || (len(f) >= 2 && strings.Trim(f[1], "[]") == module) {
			return true
		}
	}
	return false
}

// ParseBlacklist reports whether name is on the kprobe blacklist:
// "0x<start>-0x<end>\t<name>" per line (older kernels print the name
// alone). Bracketed entries name whole sections, not functions.
func ParseBlacklist(data, name string) bool {
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}
