package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/agent"
)

func metricsCommand(stdout io.Writer) *cobra.Command {
	var addr string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "metrics [name-prefix]...",
		Short: "Print the running agent's metrics",
		Long: `Metrics fetches http://<address>/metrics from a running killswitchd and
prints the samples (no comments), only those whose name starts with one of
the prefixes when given. For hosts and containers without curl.`,
		Example: `  killswitchd metrics
  killswitchd metrics killswitch_engagement_hits_total killswitch_policy_`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := fetchMetrics(ctx, stdout, addr, args); err != nil {
				return &exitError{ExitError, err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "address", agent.DefaultMetricsAddress, "the agent's --metrics-address")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}

func fetchMetrics(ctx context.Context, w io.Writer, addr string, prefixes []string) error {
	url := "http://" + addr + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("fetch metrics: %w", err)
	}
	// Plain text exposition format, whatever the server prefers.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch metrics from %s: %w (is killswitchd running with --metrics-address %s?)", url, err, addr)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch metrics from %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(prefixes) > 0 && !hasAnyPrefix(line, prefixes) {
			continue
		}
		fmt.Fprintln(w, line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read metrics from %s: %w", url, err)
	}
	return nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
