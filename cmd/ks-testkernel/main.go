// Command ks-testkernel builds (or finds in the cache) a project test kernel
// and prints where its pieces are.
//
//	ks-testkernel [-variant base|debug] [-fragments test/kernels] [-j N] [-json] [-cached|-prune]
//
// The cache is $KS_CACHE/kernels (default /var/cache/killswitch/kernels).
// With -cached it only reports a complete cached build and fails otherwise.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/killswitch/killswitch/internal/testkernel"
)

func main() {
	os.Exit(run())
}

func run() int {
	var opts testkernel.Options
	flag.StringVar(&opts.Variant, "variant", testkernel.BaseVariant, "kernel variant: base, or the name of a <fragments>/<variant>.config")
	flag.StringVar(&opts.Fragments, "fragments", "", "directory of the project config fragments (default: test/kernels of the enclosing checkout)")
	flag.IntVar(&opts.Jobs, "j", runtime.NumCPU(), "parallel make jobs")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	cachedOnly := flag.Bool("cached", false, "do not build; fail unless a complete build is cached")
	prune := flag.Bool("prune", false, "remove cached builds of this variant other than the current one, then exit")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "ks-testkernel: unexpected arguments:", flag.Args())
		return 2
	}
	opts.Log = os.Stderr
	if *prune {
		removed, err := testkernel.Prune(opts)
		for _, d := range removed {
			fmt.Println("removed", d)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ks-testkernel:", err)
			return 1
		}
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var (
		k   *testkernel.Kernel
		err error
	)
	if *cachedOnly {
		k, err = testkernel.Cached(opts)
	} else {
		k, err = testkernel.Build(ctx, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ks-testkernel:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(k); err != nil {
			fmt.Fprintln(os.Stderr, "ks-testkernel:", err)
			return 1
		}
		return 0
	}
	fmt.Printf("release      %s\nbzImage      %s\nKDIR         %s\nmodules      %s\nsigning key  %s\nsigning cert %s\nbuild time   %.0fs\n",
		k.Release, k.Bzimage, k.KDIR, k.ModulesDir, k.SigningKey, k.SigningCert, k.BuildSeconds)
	return 0
}
