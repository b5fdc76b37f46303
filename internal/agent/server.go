package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMetricsAddress is where the agent serves metrics unless told:
// loopback, for a local Prometheus agent or a node exporter proxy.
const DefaultMetricsAddress = "127.0.0.1:9470"

// Serve serves /metrics from g, /healthz and /readyz on addr until ctx
// ends. /healthz (liveness) fails when no reconcile pass ended within
// stale; /readyz (readiness) also fails while the policy is rejected
// (invalid, unsigned or badly signed) or this node's trust policy refuses
// any of its entries, so a rollout of such a policy stops and shows.
func (a *Agent) Serve(ctx context.Context, addr string, g prometheus.Gatherer, stale time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve metrics on %s: %w (pick another address with --metrics-address)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(a.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		last := a.view.lastReconcile
		a.mu.Unlock()
		if last.IsZero() || a.cfg.Now().Sub(last) > stale {
			http.Error(w, fmt.Sprintf("no reconcile pass since %v", last), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok: last reconcile %s\n", last.UTC().Format(time.RFC3339))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := a.Ready(stale); !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	a.log.Info("serving metrics", "address", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", addr, err)
	}
	return nil
}

// Ready says whether the agent is ready, and why not: a reconcile pass
// ended within stale, the policy file was accepted when last read, and the
// node's trust policy refuses none of its entries.
func (a *Agent) Ready(stale time.Duration) (bool, string) {
	a.mu.Lock()
	v := a.view
	a.mu.Unlock()
	switch {
	case v.lastReconcile.IsZero() || a.cfg.Now().Sub(v.lastReconcile) > stale:
		return false, fmt.Sprintf("no reconcile pass since %v", v.lastReconcile)
	case !v.policyValid && v.policyProblem != "":
		return false, "policy rejected: " + v.policyProblem
	case !v.policyValid:
		return false, "no policy accepted yet"
	case len(v.refused) > 0:
		var why []string
		for _, r := range v.refused {
			why = append(why, r.Message)
		}
		return false, fmt.Sprintf("%d target(s) refused by this node's trust policy (%s): %s", len(v.refused), a.cfg.Trust.Level, strings.Join(why, "; "))
	}
	return true, ""
}
