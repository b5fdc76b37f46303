package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMetricsAddress is where the agent serves metrics unless told:
// loopback, for a local Prometheus agent or a node exporter proxy.
const DefaultMetricsAddress = "127.0.0.1:9470"

// Serve serves /metrics from g and /healthz on addr until ctx ends.
// /healthz fails when no reconcile pass ended within stale.
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
