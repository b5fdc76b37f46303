// Command killswitchd is the killswitch fleet agent: it keeps the kernel's
// engagements as a policy file says, and exports them as Prometheus
// metrics. Its logic lives in internal/agent and internal/daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/killswitch/killswitch/internal/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := daemon.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
