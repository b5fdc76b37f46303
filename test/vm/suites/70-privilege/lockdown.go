package main

// Root's own changes under the lockdown level the kernel booted with.

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// rootWrite is a write by this process (root with CAP_SYS_ADMIN).
func rootWrite(p, data string) result {
	return result{Err: errName(writeFile(p, data)), Listing: listing()}
}

func (s *sweep) expectState(what, sym string, want ksfs.State) {
	e, have := s.engagements()[sym]
	switch {
	case !have:
		nok(what, "%s is not in the listing", sym)
	case e.State != want:
		nok(what, "%s is %s, want %s", sym, e.State, want)
	default:
		ok("%s: %s %s", what, sym, want)
	}
}

// allowed: the write works and leaves sym in state want; then undo it.
func (s *sweep) allowed(what, cmd, sym string, want ksfs.State) {
	if r := rootWrite(control, cmd+"\n"); r.Err != "" {
		nok(what, "%s: %s", cmd, r.Err)
		return
	}
	s.expectState(what, sym, want)
	if r := rootWrite(control, "disengage "+sym+"\n"); r.Err != "" {
		nok(what+": undo", "disengage %s: %s", sym, r.Err)
	}
}

func (s *sweep) lockdown() {
	lvl := "lockdown " + string(s.level) + ": "
	before := stable(listing())
	syms := s.fnSyms()
	if s.level == ksfs.LockdownNone {
		s.allowed(lvl+"root engages", "engage "+freeSym+" 0", freeSym, ksfs.StateEngaged)
		s.allowed(lvl+"root tryengages", "tryengage "+freeSym+" 0 30", freeSym, ksfs.StateProbing)
		s.allowed(lvl+"root observes", "observe "+freeSym, freeSym, ksfs.StateObserving)
		for _, sym := range syms {
			p := ksfs.Dir + "/fn/" + sym + "/retval"
			if r := rootWrite(p, "-7\n"); r.Err != "" {
				nok(lvl+"root writes "+p, "%s", r.Err)
			} else if e := s.engagements()[sym]; e.Retval != -7 {
				nok(lvl+"root writes "+p, "retval is %d after writing -7", e.Retval)
			} else {
				ok("%sroot writes %s: retval -7", lvl, p)
			}
		}
		// No BPF override on the stock kernels (EOPNOTSUPP), a program
		// that is not there elsewhere (EIO): past the privilege checks
		// either way.
		r := rootWrite(control, "engagebpf "+freeSym+" "+noBPF+"\n")
		if r.Err == unix.ErrnoName(unix.EOPNOTSUPP) || r.Err == "EIO" {
			ok("%sroot's engagebpf reaches the BPF path (%s for a missing program)", lvl, r.Err)
		} else {
			nok(lvl+"root's engagebpf reaches the BPF path", "got %q, want EOPNOTSUPP or EIO", or(r.Err, "success"))
		}
	} else {
		for _, m := range s.mutations() {
			switch {
			case strings.HasPrefix(m.name, "disengage"), m.name == "a malformed line":
				continue
			case m.name == "observe" && s.level == ksfs.LockdownIntegrity:
				// Counting calls skips no code: only confidentiality
				// refuses it (like kprobe events).
				s.allowed(lvl+"root observes", strings.TrimSpace(m.data), freeSym, ksfs.StateObserving)
				continue
			}
			s.expectRefused(lvl+"root: "+m.name, "EPERM", rootWrite(m.path, m.data), before)
		}
		files, _ := readTargets()
		var bad []string
		for p, mode := range files {
			if mode&0o400 == 0 {
				continue
			}
			if _, err := os.ReadFile(p); err != nil {
				bad = append(bad, p+": "+errName(err))
			}
		}
		if len(bad) > 0 {
			nok(lvl+"root reads every file", "%s", strings.Join(bad, "; "))
		} else {
			ok("%sroot reads all %d readable files", lvl, len(files))
		}
		refusals := 0
		for _, l := range s.kmsgSince() {
			if strings.Contains(l, "refused: kernel is locked down") {
				refusals++
			}
		}
		if refusals == 0 {
			nok(lvl+"refusals are logged", "no 'refused: kernel is locked down' line in the kernel log")
		} else {
			ok("%s%d refusals logged by the module", lvl, refusals)
		}
	}
	// disengage and disengage_all: allowed at every level.
	if _, have := s.engagements()[modSym]; have {
		r := rootWrite(control, "disengage "+modSym+"\n")
		if _, still := s.engagements()[modSym]; r.Err != "" || still {
			nok(lvl+"root disengages "+modSym, "got %q, still listed: %v", or(r.Err, "success"), still)
		} else {
			ok("%sroot disengages %s", lvl, modSym)
		}
	} else if r := rootWrite(control, "disengage "+modSym+"\n"); r.Err != "ENOENT" {
		nok(lvl+"disengage reaches the module", "disengage %s (not engaged): got %q, want ENOENT", modSym, or(r.Err, "success"))
	} else {
		ok("%sdisengage of what is not engaged: ENOENT, not a lockdown refusal", lvl)
	}
	if r := rootWrite(control, "disengage_all\n"); r.Err != "" || strings.TrimSpace(r.Listing) != "" {
		nok(lvl+"root disengages all", "got %q, listing %q", or(r.Err, "success"), r.Listing)
	} else {
		ok("%sroot disengages all: listing empty", lvl)
	}
}

// kmsgSince is the kernel log from this run's mark on, one message per
// line. Raw reads: os.File would park on the poller at the end instead of
// returning EAGAIN.
func (s *sweep) kmsgSince() []string {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		nok("kernel log", "opening /dev/kmsg: %v", err)
		return nil
	}
	defer unix.Close(fd)
	var b strings.Builder
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EPIPE || err == unix.EINTR {
			continue // records overwritten under us: go on from the oldest left
		}
		if err != nil || n <= 0 {
			break // EAGAIN: the end of the log
		}
		b.Write(buf[:n])
		if buf[n-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	var out []string
	found := false
	for _, r := range ksfs.ParseKmsg(b.String()) {
		if found {
			out = append(out, r.Message)
		} else if r.Message == s.mark {
			found = true
		}
	}
	if !found {
		nok("kernel log", "the mark %q is not in /dev/kmsg", s.mark)
	}
	return out
}
