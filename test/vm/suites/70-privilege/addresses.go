package main

// Exposure: what the files and the module's log lines show.

import (
	"regexp"
	"sort"
	"strings"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// kernelAddr matches what a raw or hashed pointer prints as: a kernel
// address (ffff followed by 12 hex digits, %px or %lx of a pointer, with
// or without 0x) or any 16-hex-digit word with a letter in it (%p's
// hash). A symbol with an offset, "func+0x10/0x50" (%pS), is no address
// and does not match; decimal counters have no letters.
var kernelAddr = regexp.MustCompile(`(?i)\b(?:0x)?ffff[0-9a-f]{12}\b|\b(?:0x)?[0-9a-f]*[a-f][0-9a-f]*\b`)

func addrIn(s string) string {
	for _, m := range kernelAddr.FindAllString(s, -1) {
		hex := strings.TrimPrefix(strings.ToLower(m), "0x")
		if len(hex) == 16 {
			return m
		}
	}
	return ""
}

// moduleLine: a message killswitch, test_killswitch or the BPF helper
// printed.
func moduleLine(msg string) bool {
	return strings.HasPrefix(msg, "killswitch") || strings.HasPrefix(msg, "test_killswitch") ||
		strings.Contains(msg, "ks-bpf-load")
}

func (s *sweep) addresses() {
	var names []string
	for name := range s.readable {
		names = append(names, name)
	}
	sort.Strings(names)
	var bad []string
	for _, name := range names {
		if a := addrIn(s.readable[name]); a != "" {
			bad = append(bad, name+": "+a)
		}
	}
	if len(bad) > 0 {
		nok("no kernel address in a readable file", "%s", strings.Join(bad, "; "))
	} else if len(names) == 0 {
		nok("no kernel address in a readable file", "no file was read")
	} else {
		ok("no kernel address in the %d file contents read (root and non-root)", len(names))
	}

	n := 0
	bad = nil
	for _, msg := range s.kmsgSince() {
		if !moduleLine(msg) {
			continue
		}
		n++
		if a := addrIn(msg); a != "" {
			bad = append(bad, a+" in "+msg)
		}
	}
	switch {
	case len(bad) > 0:
		nok("no kernel address in the module's log lines", "%s", strings.Join(bad, "; "))
	case n == 0:
		nok("no kernel address in the module's log lines", "the module logged nothing since the mark (it logs every engage and refusal)")
	default:
		ok("no kernel address in the %d log lines the modules printed", n)
	}
}

// callers: the observed syscall's callers file holds another user's
// call (uid 65534's getppid), which is why only root may read it.
func (s *sweep) callers() {
	if s.level == ksfs.LockdownConfidentiality {
		note("lockdown confidentiality: nothing can be observed, no callers file to look at")
		return
	}
	p := ksfs.Dir + "/fn/" + s.syscall + "/callers"
	data, have := s.readable["root: "+p]
	if !have {
		nok("callers records other users", "root could not read %s", p)
		return
	}
	cs, err := ksfs.ParseCallers(data)
	if err != nil {
		nok("callers records other users", "%s: %v", p, err)
		return
	}
	for _, c := range cs {
		if c.UID == nobody {
			if _, leaked := s.readable["non-root: "+p]; leaked {
				nok("callers is root-only", "non-root read %s", p)
			} else {
				ok("callers records uid %d's call and only root reads it", nobody)
			}
			return
		}
	}
	nok("callers records other users", "no uid %d caller in %s: %q", nobody, p, data)
}
