package ksfs

import (
	"strconv"
	"strings"
)

// LogRecord is one record of the kernel log as /dev/kmsg shows it.
type LogRecord struct {
	Seq     uint64
	Message string
}

// ParseKmsg parses /dev/kmsg records, "<prio>,<seq>,<usec>,<flags>[,...];
// <message>", one per line; continuation lines (key=value metadata that
// starts with a space) and lines that are not records are skipped.
func ParseKmsg(data string) []LogRecord {
	var out []LogRecord
	for _, line := range strings.Split(data, "\n") {
		if line == "" || line[0] == ' ' {
			continue
		}
		prefix, msg, ok := strings.Cut(line, ";")
		if !ok {
			continue
		}
		fields := strings.Split(prefix, ",")
		if len(fields) < 2 {
			continue
		}
		seq, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, LogRecord{Seq: seq, Message: msg})
	}
	return out
}

// relevant reports whether a kernel log message comes from killswitch or
// its BPF helper.
func relevant(msg string) bool {
	return strings.HasPrefix(msg, "killswitch") || strings.Contains(msg, "ks-bpf-load")
}
