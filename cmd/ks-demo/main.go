// Command ks-demo runs the CVE demonstrators of internal/demo:
//
//	ks-demo copyfail  [-expect exposed|blocked]   CVE-2026-31431, AF_ALG AEAD
//	ks-demo dirtyfrag [-expect exposed|blocked]   CVE-2026-43284, ESP input
//
// It prints "exposed: ..." or "blocked: ..." and exits 0 when the code path
// ran (exposed), 1 when it was refused (blocked), 2 on any other failure.
// With -expect it exits 0 when the outcome is the expected one and 1 when
// it is not. Static: the same binary runs in the test VMs and on a host.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/killswitch/killswitch/internal/demo"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	usage := func() int {
		fmt.Fprintln(os.Stderr, "usage: ks-demo copyfail|dirtyfrag [-expect exposed|blocked]")
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	demos := map[string]struct {
		cve string
		run func() (demo.Result, error)
	}{
		"copyfail":  {"CVE-2026-31431 (Copy Fail)", demo.CopyFail},
		"dirtyfrag": {"CVE-2026-43284 (Dirty Frag)", demo.DirtyFrag},
	}
	d, ok := demos[args[0]]
	if !ok {
		return usage()
	}
	fl := flag.NewFlagSet(args[0], flag.ContinueOnError)
	expect := fl.String("expect", "", "exit 0 only if the outcome is this: exposed or blocked")
	if err := fl.Parse(args[1:]); err != nil || fl.NArg() > 0 {
		return usage()
	}
	if *expect != "" && *expect != string(demo.Exposed) && *expect != string(demo.Blocked) {
		return usage()
	}

	r, err := d.run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ks-demo %s: %s: %v\n", args[0], d.cve, err)
		return 2
	}
	fmt.Printf("%s: %s: %s\n", r.Outcome, d.cve, r.Detail)
	switch {
	case *expect != "" && string(r.Outcome) == *expect:
		return 0
	case *expect != "":
		fmt.Fprintf(os.Stderr, "ks-demo %s: expected %s, got %s\n", args[0], *expect, r.Outcome)
		return 1
	case r.Outcome == demo.Exposed:
		return 0
	}
	return 1
}
