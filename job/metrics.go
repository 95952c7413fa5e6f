package job

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"

	"druid-migrate/metrics"
	"druid-migrate/pipeline"
	"druid-migrate/sink"
)

// metricsShutdownTimeout bounds how long the end of a run waits for a scrape in progress.
const metricsShutdownTimeout = 5 * time.Second

// metricsServer serves a run's metrics on --metrics-addr from before the run starts until it
// ends. A nil *metricsServer, without --metrics-addr, serves and observes nothing.
type metricsServer struct {
	run    *metrics.Run
	srv    *http.Server
	served chan struct{} // closed once Serve has returned
}

// serveMetrics listens on addr and serves /metrics; it returns nil when addr is empty. An
// address it cannot listen on is a configuration error.
func serveMetrics(addr string, log zerolog.Logger) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, configErrorf("--metrics-addr: %w", err)
	}
	m := &metricsServer{run: metrics.New(), served: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.run.Handler())
	// A slow production run can be profiled where it runs, without a rebuild: the address is
	// the operator's own, like the metrics it serves.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(m.served)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("metrics: serving stopped")
		}
	}()
	log.Info().Str("metrics_addr", ln.Addr().String()).Msg("serving Prometheus metrics at /metrics, and profiles at /debug/pprof/")
	return m, nil
}

// observe is what the run's client tells of its calls: nil without a server.
func (m *metricsServer) observe() sink.ObserveFunc {
	if m == nil {
		return nil
	}
	return m.run.Observe
}

// watch shows the run's client and counts, and returns the pipeline.Live to run with.
func (m *metricsServer) watch(command, job string, client *sink.Client) *pipeline.Live {
	if m == nil {
		return nil
	}
	live := &pipeline.Live{}
	m.run.Watch(metrics.Info{Command: command, Job: job}, client.Stats, live)
	return live
}

// close stops serving once the run has ended, letting a scrape in progress finish.
func (m *metricsServer) close() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		m.srv.Close()
	}
	<-m.served
}
