package flowhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/htdag/htdag/flow"
)

// RiverUIPrefix is where River UI is mounted.
const RiverUIPrefix = "/riverui"

// Options configure [New]. Pool is required; the rest may be left zero.
type Options struct {
	// Pool is the htdag database.
	Pool *pgxpool.Pool
	// River is the River client that works flow nodes in this process. With
	// it, /readyz also requires it started (and not stopped), and /riverui/
	// serves River UI on it. Serve the handler after the client's Start
	// returned: readiness reads the client's state, which Start sets
	// without a lock. Default: none (no River UI; readiness does not look at
	// River).
	River *river.Client[pgx.Tx]
	// RiverConfig is the config River was built from ([flow.RiverConfig]).
	// Its flow middleware tells /readyz whether this worker is a live
	// member of the fleet, and gets the metrics' observer
	// ([flow.Middleware.SetObserver]). Default: none (readiness does not
	// look at the fleet; no node or completer metrics).
	RiverConfig *river.Config
	// ListenPool is where the LISTEN for finished runs takes its connection
	// (one, held while Start runs); it must reach PostgreSQL directly, not
	// through a transaction pooler. Default: Pool.
	ListenPool *pgxpool.Pool
	// Logger receives errors. Default: slog.Default().
	Logger *slog.Logger
	// NoRiverUI leaves /riverui/ out even when River is set.
	NoRiverUI bool
	// Registry is where the metrics are registered and what /metrics
	// serves. Default: a new registry with the Go runtime and process
	// collectors.
	Registry *prometheus.Registry
}

// Server is the operations handler. Make it with [New], run [Server.Start]
// while it serves.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	flow    *flow.Client
	metrics *Metrics
	riverUI *riverui.Handler
	paths   []string
}

// New returns the handler for opts. It starts nothing; see [Server.Start].
func New(opts Options) (*Server, error) {
	if opts.Pool == nil {
		return nil, errors.New("flowhttp: Options.Pool is required")
	}
	if opts.ListenPool == nil {
		opts.ListenPool = opts.Pool
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), flow: flow.NewClient(opts.Pool, nil)}

	clientID := ""
	if opts.RiverConfig != nil {
		clientID = opts.RiverConfig.ID
	}
	s.metrics = newMetrics(opts.Pool, clientID, opts.Logger)
	if err := opts.Registry.Register(s.metrics); err != nil {
		return nil, fmt.Errorf("flowhttp: registering metrics: %w", err)
	}
	if mw := flow.MiddlewareOf(opts.RiverConfig); mw != nil {
		mw.SetObserver(s.metrics)
	}

	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttpHandler(opts.Registry))
	s.paths = append(s.paths, "/metrics")
	s.handleRuns()
	if opts.River != nil && !opts.NoRiverUI {
		h, err := riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(opts.River, nil),
			Logger:    opts.Logger,
			Prefix:    RiverUIPrefix,
		})
		if err != nil {
			return nil, fmt.Errorf("flowhttp: River UI: %w", err)
		}
		s.riverUI = h
		s.mux.Handle(RiverUIPrefix+"/", h)
		s.mux.Handle("GET "+RiverUIPrefix, http.RedirectHandler(RiverUIPrefix+"/", http.StatusMovedPermanently))
		s.paths = append(s.paths, RiverUIPrefix+"/")
	}
	s.mux.Handle("GET /{$}", http.RedirectHandler("/runs/", http.StatusFound))
	return s, nil
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
	_, path, _ := cutMethod(pattern)
	s.paths = append(s.paths, path)
}

func cutMethod(pattern string) (method, path string, ok bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return "", pattern, false
}

// Paths lists what the server serves, for a log line.
func (s *Server) Paths() []string { return append([]string(nil), s.paths...) }

// Metrics returns the server's metrics (also registered in its registry).
func (s *Server) Metrics() *Metrics { return s.metrics }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Start starts what the server runs in the background until ctx ends: River
// UI's services and the LISTEN that counts finished runs. It returns once
// they started; River UI answers only after that.
func (s *Server) Start(ctx context.Context) error {
	if s.riverUI != nil {
		if err := s.riverUI.Start(ctx); err != nil {
			return fmt.Errorf("flowhttp: starting River UI: %w", err)
		}
	}
	go s.metrics.listenRunsFinished(ctx, s.opts.ListenPool)
	return nil
}
