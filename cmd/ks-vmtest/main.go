// Command ks-vmtest boots Debian's stock kernels (and later custom ones) in
// QEMU with our modules and the in-VM suites, and reports per test.
//
//	go run ./cmd/ks-vmtest [-kernels debian-6.1,debian-6.12] [-suites 'glob,...']
//	                       [-timeout 80m] [-suite-timeout 5m] [-parallel 2] [-verbose] [-keep]
//	                       [-env KS_NAME=VALUE ...]
//
// The last line is "N passed, M failed"; the exit status is non-zero on any
// failure. See internal/vmtest for what a run does.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/killswitch/killswitch/internal/vmtest"
)

func main() {
	var o vmtest.Options
	var modules string
	flag.StringVar(&o.Kernels, "kernels", vmtest.DefaultKernels, "comma-separated kernels to boot: "+strings.Join(vmtest.DefaultCatalog().Labels(), ", "))
	flag.StringVar(&o.Suites, "suites", "", "comma-separated globs selecting suites by name (default: all)")
	flag.DurationVar(&o.Timeout, "timeout", 0, "limit for the whole run, cold kernel builds included (default 80m)")
	flag.DurationVar(&o.SuiteTimeout, "suite-timeout", 0, "limit for each suite inside the VM (default 5m); a guest silent for this plus 2m is killed as hung")
	flag.BoolVar(&o.Verbose, "verbose", false, "stream VM consoles, kernel logs and build output")
	flag.BoolVar(&o.Keep, "keep", false, "keep initramfs images and logs in $KS_CACHE/runs/<time>/")
	flag.IntVar(&o.Parallel, "parallel", 2, "number of VMs to run at once")
	flag.StringVar(&modules, "modules", "", "extra stock kernel modules to put in the initramfs (comma-separated)")
	flag.Func("env", "KS_NAME=VALUE exported to the suites on every kernel, over the kernel's own (repeatable; e.g. KS_STRESS_DURATION=30m)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("%q is not KS_NAME=VALUE", s)
		}
		if o.Env == nil {
			o.Env = map[string]string{}
		}
		o.Env[k] = v
		return nil
	})
	flag.StringVar(&o.PrebuiltModules, "prebuilt-modules", "", "directory of prebuilt modules replacing ours by name; {release} and {arch} are substituted (e.g. a DKMS build tree)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ks-vmtest: unexpected arguments: %s\n", strings.Join(flag.Args(), " "))
		os.Exit(2)
	}
	if modules != "" {
		o.StockModules = append(vmtest.DefaultStockModules(), strings.Split(modules, ",")...)
	}
	if g := os.Getenv("GO"); g != "" {
		o.Go = g
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	total, err := vmtest.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ks-vmtest: %v\n", err)
		fmt.Println("0 passed, 1 failed")
		os.Exit(1)
	}
	if total.Failed > 0 || total.Passed == 0 {
		os.Exit(1)
	}
}
