// Package flowotel traces htdag runs with OpenTelemetry: one trace per tree
// of runs, a span per run (from its creation to its finish) and, under it, a
// span per node attempt (River's work span, from
// github.com/riverqueue/rivercontrib/otelriver) linked to the spans of the
// node's parents, so that the trace draws the DAG. The trace's context
// travels through the database: its IDs are derived from the run and job
// ids (see [IDGenerator]), so a node worked on any traced worker joins its
// run's trace, and nothing is written per node.
//
//	tp := flowotel.NewTracerProvider(exporter)   // e.g. otlptracehttp.New(ctx)
//	config := flow.RiverConfig(pool, workers)
//	tracing, err := flowotel.Install(config, pool, flowotel.Options{TracerProvider: tp})
//	...
//	client, err := river.NewClient(flow.NewDriver(pool, nil), config)
//	tracing.Start(ctx) // sends run spans as runs finish, until ctx ends
//
// A run's span is sent when it finishes, once across the fleet, by a traced
// worker that hears it (LISTEN flow_run_finished, claimed in
// flow.traced_run); a run that finishes while no traced worker listens keeps
// its node spans but not its own. Tracing costs each node attempt one
// indexed query (its run and its parents' attempts) and the spans' export.
package flowotel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/htdag/htdag/flow"
)

// TracerName is the instrumentation name of htdag's own spans (the runs').
const TracerName = "github.com/htdag/htdag/flowotel"

// maxLinks bounds the parents a node span links to (OpenTelemetry's default
// link limit is 128).
const maxLinks = 128

// lookupTimeout bounds the per-attempt query; tracing never fails a node.
const lookupTimeout = 5 * time.Second

// Options configure [Install].
type Options struct {
	// TracerProvider receives the spans. It must generate IDs with
	// [IDGenerator] ([NewTracerProvider] does); Install checks. Required.
	TracerProvider trace.TracerProvider
	// ListenPool is where the LISTEN for finished runs takes its connection
	// (held while Start runs); it must reach PostgreSQL directly. Default:
	// the pool given to Install.
	ListenPool *pgxpool.Pool
	// Logger receives tracing's own errors (at debug level for a failed
	// lookup, which only leaves a node's span unlinked). Default:
	// slog.Default().
	Logger *slog.Logger
}

// NewTracerProvider returns a TracerProvider that batches spans to exporter
// with htdag's [IDGenerator], plus opts.
func NewTracerProvider(exporter sdktrace.SpanExporter, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{
		sdktrace.WithBatcher(exporter), sdktrace.WithIDGenerator(IDGenerator()),
	}, opts...)...)
}

// Tracing is tracing installed in a River config; [Tracing.Start] sends the
// run spans.
type Tracing struct {
	pool   *pgxpool.Pool
	listen *pgxpool.Pool
	tracer trace.Tracer
	log    *slog.Logger
}

// Install adds to config, before its other middleware, otelriver's
// middleware (River's insert and work spans, on opts.TracerProvider) between
// htdag's two tracing middlewares: the outer one makes a flow node's work
// span a child of its run's span, with the derived span ID; the inner one
// links it to its parents' spans and names its run and node.
func Install(config *river.Config, pool *pgxpool.Pool, opts Options) (*Tracing, error) {
	if config == nil || pool == nil {
		return nil, errors.New("flowotel: Install needs a river.Config and a pool")
	}
	if opts.TracerProvider == nil {
		return nil, errors.New("flowotel: Options.TracerProvider is required")
	}
	if err := checkIDGenerator(opts.TracerProvider); err != nil {
		return nil, err
	}
	t := &Tracing{pool: pool, listen: opts.ListenPool, tracer: opts.TracerProvider.Tracer(TracerName), log: opts.Logger}
	if t.listen == nil {
		t.listen = pool
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	otel := otelriver.NewMiddleware(&otelriver.MiddlewareConfig{TracerProvider: opts.TracerProvider, EnableWorkSpanJobKindSuffix: true})
	config.Middleware = append([]rivertype.Middleware{&outerMiddleware{t: t}, otel, &innerMiddleware{}}, config.Middleware...)
	return t, nil
}

// checkIDGenerator: a span started with wanted IDs must get them.
func checkIDGenerator(tp trace.TracerProvider) error {
	tid := traceIDOf(-1, time.Unix(0, 0))
	sid := runSpanID(tid, -1)
	_, span := tp.Tracer(TracerName).Start(withWantedIDs(context.Background(), tid, sid), "htdag.probe")
	got := span.SpanContext()
	// Not ended: a probe is never exported.
	if got.TraceID() != tid || got.SpanID() != sid {
		return errors.New("flowotel: the TracerProvider does not use flowotel.IDGenerator (build it with flowotel.NewTracerProvider, or add sdktrace.WithIDGenerator(flowotel.IDGenerator()))")
	}
	return nil
}

// nodeTrace is what the outer middleware found for a node attempt, for the
// inner one.
type nodeTrace struct {
	runID, topRunID int64
	nodeID          string
	links           []trace.Link
}

type nodeTraceKey struct{}

// lookupSQL reads a node's run, its top run and its parents' attempts (a
// parent that ran as a child run: that run), by primary keys.
const lookupSQL = `
SELECT n.run_id, coalesce(r.root_run_id, r.id), t.created_at, n.node_id,
       coalesce(array_agg(p.id ORDER BY p.id) FILTER (WHERE p.id IS NOT NULL), '{}'),
       coalesce(array_agg(p.attempt::int ORDER BY p.id) FILTER (WHERE p.id IS NOT NULL), '{}'),
       coalesce(array_agg(coalesce(c.id, 0) ORDER BY p.id) FILTER (WHERE p.id IS NOT NULL), '{}')
  FROM flow.node n
  JOIN flow.run r ON r.id = n.run_id
  JOIN flow.run t ON t.id = coalesce(r.root_run_id, r.id)
  LEFT JOIN LATERAL (SELECT j.id, j.attempt FROM public.river_job j WHERE j.id = ANY (n.parents) ORDER BY j.id LIMIT 128) p ON true
  LEFT JOIN flow.run c ON c.parent_job_id = p.id
 WHERE n.job_id = $1
 GROUP BY n.run_id, r.root_run_id, r.id, t.created_at, n.node_id`

// outerMiddleware puts a flow node's run span (remote parent) and derived
// span ID into the work context, for otelriver's work span.
type outerMiddleware struct {
	river.MiddlewareDefaults
	t *Tracing
}

func (m *outerMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	var meta struct {
		Run int64 `json:"flow_run"`
	}
	if json.Unmarshal(job.Metadata, &meta) != nil || meta.Run == 0 {
		return doInner(ctx)
	}
	qctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	var (
		nt         nodeTrace
		topCreated time.Time
		parents    []int64
		attempts   []int32
		childRuns  []int64
	)
	err := m.t.pool.QueryRow(qctx, lookupSQL, job.ID).Scan(&nt.runID, &nt.topRunID, &topCreated, &nt.nodeID, &parents, &attempts, &childRuns)
	cancel()
	if err != nil {
		m.t.log.DebugContext(ctx, "htdag: tracing: reading the node's run", "job_id", job.ID, "error", err)
		return doInner(ctx)
	}
	tid := traceIDOf(nt.topRunID, topCreated)
	for i, p := range parents {
		switch {
		case childRuns[i] != 0:
			nt.links = append(nt.links, trace.Link{SpanContext: remote(tid, runSpanID(tid, childRuns[i]))})
		case attempts[i] > 0:
			nt.links = append(nt.links, trace.Link{SpanContext: remote(tid, nodeSpanID(tid, p, int(attempts[i])))})
		}
		if len(nt.links) == maxLinks {
			break
		}
	}
	ctx = trace.ContextWithRemoteSpanContext(ctx, remote(tid, runSpanID(tid, nt.runID)))
	ctx = withWantedIDs(ctx, tid, nodeSpanID(tid, job.ID, job.Attempt))
	return doInner(context.WithValue(ctx, nodeTraceKey{}, &nt))
}

// innerMiddleware adds the node's links and names to otelriver's span.
type innerMiddleware struct {
	river.MiddlewareDefaults
}

func (m *innerMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if nt, ok := ctx.Value(nodeTraceKey{}).(*nodeTrace); ok {
		span := trace.SpanFromContext(ctx)
		for _, l := range nt.links {
			span.AddLink(l)
		}
		span.SetAttributes(attribute.Int64("flow.run_id", nt.runID), attribute.Int64("flow.top_run_id", nt.topRunID),
			attribute.String("flow.node_id", nt.nodeID))
	}
	return doInner(ctx)
}

// Start sends each run's span as the run finishes, until ctx ends, on one
// LISTEN connection (reconnecting after a loss). It returns at once.
func (t *Tracing) Start(ctx context.Context) {
	go flow.ListenRunsFinished(ctx, t.listen, func(ctx context.Context, f flow.RunFinished) {
		if err := t.sendRunSpan(ctx, f.RunID); err != nil && ctx.Err() == nil {
			t.log.Warn("htdag: tracing: sending a run's span", "run_id", f.RunID, "error", err)
		}
	}, func(err error) { t.log.Debug("htdag: tracing: LISTEN flow_run_finished", "error", err) })
}

// claimRunSQL claims a finished run's span for this worker and reads what
// the span says; no row when another worker claimed it first.
const claimRunSQL = `
WITH claim AS (
    INSERT INTO flow.traced_run (run_id)
    SELECT id FROM flow.run WHERE id = $1 AND finished_at IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING run_id
)
SELECT r.id, r.name, r.state, r.created_at, r.finished_at, r.parent_run_id, coalesce(r.root_run_id, r.id), t.created_at,
       r.node_count, r.failed, r.depth
  FROM claim
  JOIN flow.run r ON r.id = claim.run_id
  JOIN flow.run t ON t.id = coalesce(r.root_run_id, r.id)`

func (t *Tracing) sendRunSpan(ctx context.Context, runID int64) error {
	var (
		id, top              int64
		name, state          string
		created, topCreated  time.Time
		finished             time.Time
		parent               *int64
		nodes, failed, depth int
	)
	err := t.pool.QueryRow(ctx, claimRunSQL, runID).Scan(&id, &name, &state, &created, &finished, &parent, &top, &topCreated, &nodes, &failed, &depth)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // sent by another worker
	}
	if err != nil {
		return err
	}
	tid := traceIDOf(top, topCreated)
	sctx := context.Background()
	if parent != nil {
		sctx = trace.ContextWithRemoteSpanContext(sctx, remote(tid, runSpanID(tid, *parent)))
	}
	sctx = withWantedIDs(sctx, tid, runSpanID(tid, id))
	spanName := "flow.run"
	if name != "" {
		spanName += " " + name
	}
	_, span := t.tracer.Start(sctx, spanName, trace.WithTimestamp(created), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.Int64("flow.run_id", id), attribute.Int64("flow.top_run_id", top),
			attribute.String("flow.state", state), attribute.Int("flow.nodes", nodes), attribute.Int("flow.depth", depth)))
	if state != string(flow.RunStateCompleted) {
		span.SetStatus(codes.Error, fmt.Sprintf("run %s: %d of %d nodes failed", state, failed, nodes))
	}
	span.End(trace.WithTimestamp(finished))
	return nil
}
