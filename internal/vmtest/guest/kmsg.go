package guest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// FormatKmsg turns one /dev/kmsg record ("prio,seq,usec,flags;text\n" plus
// " KEY=value" continuation lines) into a dmesg-style "[sec.usec] text" line.
// Continuation lines carry device metadata and are dropped.
func FormatKmsg(rec []byte) (string, bool) {
	head, body, ok := bytes.Cut(rec, []byte(";"))
	if !ok {
		return "", false
	}
	body, _, _ = bytes.Cut(body, []byte("\n"))
	fields := strings.Split(string(head), ",")
	if len(fields) < 3 {
		return "", false
	}
	usec, err := strconv.ParseUint(fields[2], 10, 64)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("[%5d.%06d] %s", usec/1e6, usec%1e6, body), true
}

// KmsgSeq is a /dev/kmsg record's sequence number (its second field).
func KmsgSeq(rec []byte) (uint64, bool) {
	head, _, ok := bytes.Cut(rec, []byte(";"))
	if !ok {
		return 0, false
	}
	fields := strings.Split(string(head), ",")
	if len(fields) < 3 {
		return 0, false
	}
	seq, err := strconv.ParseUint(fields[1], 10, 64)
	return seq, err == nil
}

// kmsgLog collects the kernel log from boot on, and notices every record
// that went missing: the first record is not number 0 (the ring buffer
// wrapped before we read it), or a later one does not follow its
// predecessor (a read returned EPIPE). A gap becomes a "[kmsg: records
// lost: ...]" line in place, which the host fails the run on.
type kmsgLog struct {
	lines []string
	next  uint64 // the sequence number expected next
	gaps  []kmsgGap
}

// kmsgGap is a run of records ks-vminit never read; line is its marker's
// index in lines.
type kmsgGap struct {
	line        int
	first, last uint64
}

// forgive rewrites the marker of every gap that lies inside a range a
// suite proved it read whole (vmproto.KmsgComplete): the suite scanned
// those records for kernel reports, so nothing went unseen. Other gaps
// keep the "records lost" marker the host fails on.
func (k *kmsgLog) forgive(covered [][2]uint64) {
	for _, g := range k.gaps {
		for _, c := range covered {
			if c[0] <= g.first && g.last <= c[1] {
				k.lines[g.line] = fmt.Sprintf("[kmsg: records %d..%d overwritten before ks-vminit read them; a suite read all of %d..%d]", g.first, g.last, c[0], c[1])
				break
			}
		}
	}
}

func (k *kmsgLog) add(rec []byte) {
	seq, ok := KmsgSeq(rec)
	if ok && seq != k.next {
		if seq > k.next {
			k.gaps = append(k.gaps, kmsgGap{line: len(k.lines), first: k.next, last: seq - 1})
			k.lines = append(k.lines, fmt.Sprintf("[kmsg: records lost: %d..%d (ring buffer overwritten before ks-vminit read them)]", k.next, seq-1))
		}
		k.next = seq
	}
	if ok {
		k.next++
	}
	if line, ok := FormatKmsg(rec); ok {
		k.lines = append(k.lines, line)
	}
}
