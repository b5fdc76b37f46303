// Command ks-bpf-load is killswitch's engagebpf helper: it loads the kprobe
// program of a BPF object, attaches it to a kernel function and pins the
// link at /sys/fs/bpf/killswitch/<function>. killswitch.ko runs it as
// /usr/sbin/ks-bpf-load with call_usermodehelper; root may run it directly
// on functions that are on the error-injection list.
//
//	ks-bpf-load <bpf.o> <function>
//
// The result is one line in the kernel log; the exit status is 0 on success.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/killswitch/killswitch/internal/bpfload"
)

// deadline bounds a run: killswitch.ko waits for the helper without
// UMH_KILLABLE (so that none of its callbacks can outlive the write or the
// module), and the writer cannot be killed meanwhile. Loading and
// attaching take well under a second; a helper stuck for a minute is
// broken, and ends itself with a log line rather than hold the writer.
const deadline = time.Minute

func main() {
	time.AfterFunc(deadline, func() {
		logLine(bpfload.KmsgWarning, fmt.Sprintf("ks-bpf-load: gave up after %s (stuck loading or attaching); nothing pinned by this run", deadline))
		os.Exit(3)
	})
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	req, err := bpfload.ParseArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ks-bpf-load:", err)
		logLine(bpfload.KmsgWarning, "ks-bpf-load: "+err.Error())
		return 2
	}
	res, err := bpfload.Load(bpfload.Host{}, req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ks-bpf-load: %s: %v\n", req.Symbol, err)
		if tail := bpfload.VerifierTail(err); tail != "" {
			fmt.Fprintln(os.Stderr, tail)
		}
		logLine(bpfload.KmsgWarning, fmt.Sprintf("ks-bpf-load: %s: %v", req.Symbol, err))
		return 1
	}
	fmt.Printf("%s: loaded %s, pinned at %s\n", req.Symbol, res.Program, res.Pin)
	logLine(bpfload.KmsgNotice, fmt.Sprintf("ks-bpf-load: loaded %s program on %s", res.Program, req.Symbol))
	return 0
}

// logLine reports to the kernel log; failing that, to stderr, which is all
// that is left to say it.
func logLine(priority int, line string) {
	if err := bpfload.Kmsg(priority, line); err != nil {
		fmt.Fprintln(os.Stderr, "ks-bpf-load:", err)
	}
}
