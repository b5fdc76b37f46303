package vmtest

import (
	"regexp"
	"strings"
)

// splatRE matches kernel log lines that fail a run: the kernel reporting a
// bug in itself (or in our module). Our module's audit lines are
// KERN_WARNING but never contain "WARNING:".
var splatRE = regexp.MustCompile(`BUG:|WARNING:|Oops|Kernel panic|general protection|RCU stall|rcu_.*detected stall|possible recursive locking|circular locking|KASAN|kmemleak|UBSAN|lockdep`)

// benignRE matches the boot banners of a debug kernel (ks-6.1-debug) that
// splatRE would otherwise take for reports: they say a checker is on, not
// that it found anything.
// (/dev/kmsg escapes the banner's tab as \x09.)
var benignRE = regexp.MustCompile(`rcu: (\s|\\x09)*RCU lockdep checking is enabled\.|kmemleak: Kernel memory leak detector initialized`)

// timestampRE is the "[    1.234567] " prefix of console and kmsg lines.
var timestampRE = regexp.MustCompile(`^\[\s*\d+\.\d+\]\s?`)

// ScanSplats returns the kernel log lines that indicate a kernel bug, each
// message once even when it appears in several logs (console and kmsg).
func ScanSplats(logs ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, lines := range logs {
		for _, l := range lines {
			l = strings.TrimRight(l, "\r")
			if !splatRE.MatchString(l) || benignRE.MatchString(l) {
				continue
			}
			msg := timestampRE.ReplaceAllString(l, "")
			if seen[msg] {
				continue
			}
			seen[msg] = true
			out = append(out, l)
		}
	}
	return out
}
