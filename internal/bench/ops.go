package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/htdag/htdag/flowhttp"
	"github.com/htdag/htdag/flowotel"
)

// The operations surface during a benchmark (Options.HTTPAddr,
// Options.Trace), so that the hot path can be measured with and without it
// in one session: `worker bench --http-addr 127.0.0.1:8081 --trace`.

// opsListener serves the current shape's flowhttp server on one address for
// the whole Run.
type opsListener struct {
	srv     *http.Server
	current atomic.Pointer[flowhttp.Server]
}

func listenOps(addr string) (*opsListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: --http-addr: %w", err)
	}
	o := &opsListener{}
	o.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := o.current.Load(); s != nil {
			s.ServeHTTP(w, r)
			return
		}
		http.Error(w, "between shapes", http.StatusServiceUnavailable)
	})}
	go func() { _ = o.srv.Serve(ln) }()
	return o, nil
}

func (o *opsListener) close() {
	if o != nil {
		_ = o.srv.Close()
	}
}

// discardSpans is a span exporter that counts what it is given: tracing's
// cost in the process and the database, without a collector's.
type discardSpans struct{ n atomic.Int64 }

func (d *discardSpans) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	d.n.Add(int64(len(spans)))
	return nil
}

func (d *discardSpans) Shutdown(context.Context) error { return nil }

// shapeOps is one shape's tracing and HTTP server; stop ends them.
type shapeOps struct {
	cancel context.CancelFunc
	tp     *sdktrace.TracerProvider
	spans  *discardSpans
	ops    *opsListener
}

// installOps installs tracing in cfg (before the River client is made).
func (sr *shapeRun) installOps(cfg *river.Config) error {
	ctx, cancel := context.WithCancel(context.Background())
	sr.ops = &shapeOps{cancel: cancel, ops: sr.opts.ops}
	if !sr.opts.Trace {
		return nil
	}
	sr.ops.spans = &discardSpans{}
	sr.ops.tp = flowotel.NewTracerProvider(sr.ops.spans)
	t, err := flowotel.Install(cfg, sr.pool, flowotel.Options{TracerProvider: sr.ops.tp, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	t.Start(ctx)
	return nil
}

// serveOps puts the shape's flowhttp server (metrics observer included) on
// the listener, once its River client exists.
func (sr *shapeRun) serveOps(cfg *river.Config) error {
	if sr.ops.ops == nil {
		return nil
	}
	srv, err := flowhttp.New(flowhttp.Options{Pool: sr.pool, River: sr.client, RiverConfig: cfg, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	prev := sr.ops.cancel
	sr.ops.cancel = func() { cancel(); prev() }
	if err := srv.Start(ctx); err != nil {
		return err
	}
	sr.ops.ops.current.Store(srv)
	return nil
}

// stopOps ends the shape's tracing (flushing its spans) and server.
func (sr *shapeRun) stopOps() error {
	if sr.ops == nil {
		return nil
	}
	if sr.ops.ops != nil {
		sr.ops.ops.current.Store(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if sr.ops.tp != nil {
		// A run's span is sent when its flow_run_finished notification
		// arrives, which may be after the shape saw the run finish.
		sr.waitRunSpans(ctx)
	}
	sr.ops.cancel()
	if sr.ops.tp == nil {
		return nil
	}
	err := sr.ops.tp.Shutdown(ctx)
	sr.note("tracing: %d spans", sr.ops.spans.n.Load())
	return err
}

// waitRunSpans waits until every finished run has had its span sent
// (flow.traced_run), or ctx ends.
func (sr *shapeRun) waitRunSpans(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var missing bool
		err := sr.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM flow.run r WHERE r.finished_at IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM flow.traced_run t WHERE t.run_id = r.id))`).Scan(&missing)
		if err != nil || !missing {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
