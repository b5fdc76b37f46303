// Command killswitch is the operator's front end to the killswitch kernel
// module. Its logic lives in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/killswitch/killswitch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.HostEnv())
	stop()
	os.Exit(code)
}
