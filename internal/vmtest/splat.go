package vmtest

import (
	"regexp"
	"strings"
)

// splatRE matches kernel log lines that fail a run: the kernel reporting a
// bug in itself (or in our module). Our module's audit lines are
// KERN_WARNING but never contain "WARNING:". Each alternative is a printk
// format from the kernel's source (6.1 and later), named in splatPatterns.
var splatRE = regexp.MustCompile(strings.Join(splatPatterns, "|"))

// splatPatterns are the reports, one per kernel facility. splat_test.go
// holds a real line for each.
var splatPatterns = []string{
	`BUG:`,     // BUG: unable to handle, soft lockup, scheduling while atomic, KASAN, KFENCE, sleeping function...
	`WARNING:`, // WARN(), lockdep's reports
	`Oops`,
	`Kernel panic`,
	`kernel BUG at`,                   // lib/bug.c: BUG()
	`invalid opcode`,                  // x86 traps: the die header of a #UD (BUG() on x86)
	`BUG [^\s:]+ \((?:Not t|T)ainted`, // mm/slub.c slab_bug(): "BUG kmalloc-64 (Not tainted): ..."
	`general protection`,
	`(?i:unable to handle)`,               // x86 "BUG: unable to handle page fault", arm64 "Unable to handle kernel paging request"
	`INFO: task .* blocked for more than`, // kernel/hung_task.c
	`scheduling while atomic`,
	`sleeping function called from invalid context`,
	`inconsistent lock state`,
	`possible recursive locking`,
	`circular locking`,
	`lockdep`,
	`refcount_t:`,                 // lib/refcount.c
	`list_(?:add|del) corruption`, // lib/list_debug.c
	`UBSAN`,
	`KFENCE`,
	`KASAN`,
	`kmemleak`,
	`RCU stall`,
	`rcu_.*detected stall`,
}

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

// lostRE matches the kernel log saying records are missing: ks-vminit's
// marker for a /dev/kmsg read that returned EPIPE, and printk's own line
// when the console could not keep up.
var lostRE = regexp.MustCompile(`\[kmsg: records lost|\*\* \d+ printk messages dropped \*\*`)

// ScanLost returns the lines that say kernel log records were lost: a
// report may have been among them, so the run cannot be judged clean.
func ScanLost(logs ...[]string) []string {
	var out []string
	for _, lines := range logs {
		for _, l := range lines {
			if lostRE.MatchString(l) {
				out = append(out, strings.TrimRight(l, "\r"))
			}
		}
	}
	return out
}
