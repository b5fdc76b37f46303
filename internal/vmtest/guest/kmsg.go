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

// kmsgSeq is a /dev/kmsg record's sequence number (its second field).
func kmsgSeq(rec []byte) (uint64, bool) {
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
}

func (k *kmsgLog) add(rec []byte) {
	seq, ok := kmsgSeq(rec)
	if ok && seq != k.next {
		if seq > k.next {
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
