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
