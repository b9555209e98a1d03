package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// nodeMeta is what flow.start puts in a node job's metadata.
type nodeMeta struct {
	RunID     int64  `json:"flow_run"`
	NodeID    string `json:"flow_node"`
	TimeoutMS int64  `json:"flow_timeout_ms"`
}

// nodeContext travels in a flow node's work context.
type nodeContext struct {
	pool    *pgxpool.Pool
	job     *rivertype.JobRow
	jobID   int64
	attempt int // the attempt being worked: only it may complete the node
	meta    nodeMeta
	output  []byte
	txFuncs []func(ctx context.Context, tx pgx.Tx) error
	// expand is the spec of the child run the node expands into, if any.
	expand []byte
	// skip is why the node is skipped, if its Work called Skip.
	skip *string
}

type nodeContextKey struct{}

func nodeFromContext(ctx context.Context) *nodeContext {
	nc, _ := ctx.Value(nodeContextKey{}).(*nodeContext)
	return nc
}

// ErrNotNode is returned by the node helpers when called outside a flow
// node's Work, or on a River client without htdag's [Middleware].
var ErrNotNode = errors.New("htdag: not inside a flow node's Work (is flow.Middleware installed in river.Config?)")

// RunID returns the run of the node being worked, and false outside a node.
func RunID(ctx context.Context) (int64, bool) {
	if nc := nodeFromContext(ctx); nc != nil {
		return nc.meta.RunID, true
	}
	return 0, false
}

// NodeID returns the id of the node being worked, and false outside a node.
func NodeID(ctx context.Context) (string, bool) {
	if nc := nodeFromContext(ctx); nc != nil {
		return nc.meta.NodeID, true
	}
	return "", false
}

// SetOutput records the node's output (any JSON-encodable value, at most
// 32 MB). It is written with the node's completion, under the job's metadata
// key "output" (where River keeps recorded output), so children see it the
// moment they start. Calling it again replaces the output.
//
// Outside a flow node it falls back to river.RecordOutput.
func SetOutput(ctx context.Context, output any) error {
	nc := nodeFromContext(ctx)
	if nc == nil {
		return river.RecordOutput(ctx, output)
	}
	b, err := json.Marshal(output)
	if err != nil {
		return fmt.Errorf("htdag: encoding output: %w", err)
	}
	if len(b) > 32<<20 {
		return fmt.Errorf("htdag: output is %d bytes, more than 32 MB", len(b))
	}
	nc.output = b
	return nil
}

// Skip finishes the node as skipped ([NodeStateSkipped]) instead of
// completed, with reason: its Work returns the error Skip returns (or nil).
// Its children then decide by their trigger rules (all_success children are
// skipped too, none_failed and all_done ones run): this is how a node
// branches on what it computed. A skipped node has no output ([SetOutput]
// and [Expand] are ignored); its [InTx] functions still run with its
// completion.
//
//	if !changed {
//		return flow.Skip(ctx, "no files changed")
//	}
func Skip(ctx context.Context, reason string) error {
	nc := nodeFromContext(ctx)
	if nc == nil {
		return ErrNotNode
	}
	if reason == "" {
		reason = "skipped by its work"
	}
	nc.skip = &reason
	return nil
}

// InTx registers fn to run inside the node's completion transaction: its
// writes commit together with the node's completion (and the release of its
// children), or not at all. When fn fails, nothing it wrote is kept and the
// node's attempt fails with fn's error, to be retried by River.
//
// Functions run in the order registered, after Work returns nil, inside a
// savepoint of a transaction that may complete other nodes too.
func InTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	nc := nodeFromContext(ctx)
	if nc == nil {
		return ErrNotNode
	}
	nc.txFuncs = append(nc.txFuncs, fn)
	return nil
}

// Expand makes the node expand into a sub-DAG at run time: when Work
// returns nil, the child run of sub is inserted in the node's completion
// transaction (after its InTx functions), and the node finishes only when
// that run finishes: completed with the child run's output as its own (any
// [SetOutput] is ignored), or failed when the child run fails. The node's
// children wait for that. Nodes of sub may expand again, within the top run's
// limits ([Spec].MaxDepth, [Spec].MaxTreeNodes). sub's input, when it sets
// none, is the node's own inputs ({"input": ..., "parents": {...}}).
//
// An invalid spec or a limit exceeded cancels the node (River's JobCancel:
// retrying would fail the same way) with an error naming the problem.
// Calling Expand again replaces the spec. sub may be a [JSONSpec], sent to
// the database unparsed. The SQL door is flow.expand(job_id, spec), for
// workers in other languages.
func Expand(ctx context.Context, sub Specifier) error {
	nc := nodeFromContext(ctx)
	if nc == nil {
		return ErrNotNode
	}
	if sub == nil {
		return errors.New("htdag: Expand: spec is nil")
	}
	raw, err := encodeSpec(sub)
	if err != nil {
		return err
	}
	nc.expand = raw
	return nil
}

// NodeInputs is what a node reads of its run: the run's input, its parents'
// outputs keyed by parent node id, and for a node of a map its element.
type NodeInputs struct {
	// Input is the run's input (JSON null when it has none).
	Input json.RawMessage `json:"input"`
	// Parents holds each parent's output by parent node id (JSON null for a
	// parent that set none); empty, not nil, for a root.
	Parents map[string]json.RawMessage `json:"parents"`
	// States holds each parent's final state by parent node id:
	// completed, skipped, cancelled or discarded (a node whose trigger rule
	// lets it run with failed parents reads them here).
	States map[string]NodeState `json:"states"`
	// Item is the node's element when the node is one of a map's jobs
	// (nil otherwise).
	Item json.RawMessage `json:"item,omitempty"`
}

// Inputs reads the run's input and the node's parents' outputs in one query
// (flow.node_inputs).
func Inputs(ctx context.Context) (*NodeInputs, error) {
	nc := nodeFromContext(ctx)
	if nc == nil {
		return nil, ErrNotNode
	}
	var raw []byte
	if err := nc.pool.QueryRow(ctx, "SELECT flow.node_inputs($1)", nc.jobID).Scan(&raw); err != nil {
		return nil, fmt.Errorf("htdag: reading node inputs: %w", err)
	}
	var in NodeInputs
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("htdag: decoding node inputs: %w", err)
	}
	if in.Parents == nil {
		in.Parents = map[string]json.RawMessage{}
	}
	return &in, nil
}

// DefaultJobTimeout bounds an attempt of a job that says nothing of its
// own: a node without "timeout_ms", or a plain River job whose worker has no
// Timeout. It is River's own default.
const DefaultJobTimeout = time.Minute

// Middleware is the River worker middleware that makes flow nodes fast,
// atomic and bounded. For a job that is a flow node it puts the node into the
// work context (for [SetOutput], [InTx], [Inputs]), bounds the attempt by the
// node's "timeout_ms" (else JobTimeout) and, when Work returns nil, completes
// the job through a grouped completer: a lone completion commits at once in
// its own statement, and completions that arrive while a commit is in flight
// are committed together in the next one. The release trigger then frees the
// children in that same transaction. Only the attempt that was worked is
// completed, never one whose cancel was asked for, and a completion whose
// connection was lost (PostgreSQL restarting) is tried again on a new one.
//
// [RiverConfig] installs it, with River's own job timeout turned off (River
// applies it inside every middleware, so a node could never run longer) and
// this middleware's JobTimeout set to [DefaultJobTimeout] for every job. A
// process built on RiverConfig joins the fleet ([JoinFleet]) on its first
// job if it has not joined before.
//
// Building a river.Config by hand, install one per process:
//
//	config := &river.Config{Middleware: []rivertype.Middleware{flow.NewMiddleware(pool)}, ...}
type Middleware struct {
	river.MiddlewareDefaults
	completer *completer
	pool      *pgxpool.Pool

	// JobTimeout bounds each attempt of a node without "timeout_ms", and of
	// any other job (when its worker has a Timeout of its own, River applies
	// that too: the shorter wins). Zero: no bound from here (River's own
	// job timeout, if set, still applies). Default: [DefaultJobTimeout] from
	// RiverConfig, zero from NewMiddleware.
	JobTimeout time.Duration

	// riverConfig is the config RiverConfig made this middleware for: the
	// fleet is joined with it on the first job unless JoinFleet was called.
	riverConfig *river.Config
	fleet       atomic.Pointer[Fleet]
	observer    atomic.Pointer[Observer]
	joinMu      sync.Mutex
	joinFailed  bool

	activeMu sync.Mutex
	active   map[string]int // jobs being worked per queue, for the fleet's free slots
}

var _ rivertype.WorkerMiddleware = (*Middleware)(nil)

// NewMiddleware returns the middleware for flow nodes completed on pool.
func NewMiddleware(pool *pgxpool.Pool) *Middleware {
	m := &Middleware{pool: pool, completer: newCompleter(pool)}
	m.completer.fleet = &m.fleet
	return m
}

// MiddlewareOf returns the flow [Middleware] installed in config, or nil.
// Use it to adjust JobTimeout on a config from [RiverConfig].
func MiddlewareOf(config *river.Config) *Middleware {
	return middlewareOf(config)
}

func middlewareOf(config *river.Config) *Middleware {
	if config == nil {
		return nil
	}
	for _, mw := range config.Middleware {
		if m, ok := mw.(*Middleware); ok {
			return m
		}
	}
	return nil
}

// Fleet returns the fleet membership of this middleware's process, or nil
// before it joined.
func (m *Middleware) Fleet() *Fleet { return m.fleet.Load() }

// Work implements rivertype.WorkerMiddleware.
func (m *Middleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if m.riverConfig != nil && m.fleet.Load() == nil {
		m.joinOnFirstJob(ctx)
	}
	m.countActive(job.Queue, 1)
	defer m.countActive(job.Queue, -1)
	var meta nodeMeta
	isNode := json.Unmarshal(job.Metadata, &meta) == nil && meta.RunID != 0 || job.Kind == StartKind
	timeout := m.JobTimeout
	if isNode && meta.TimeoutMS > 0 {
		timeout = time.Duration(meta.TimeoutMS) * time.Millisecond
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if !isNode {
		return doInner(ctx)
	}
	if o := m.observer.Load(); o != nil {
		start := time.Now()
		err := m.workNode(ctx, job, meta, timeout, doInner)
		(*o).NodeWorked(NodeAttempt{Kind: job.Kind, Queue: job.Queue, Attempt: job.Attempt,
			Outcome: outcomeOf(job, err), Duration: time.Since(start)})
		return err
	}
	return m.workNode(ctx, job, meta, timeout, doInner)
}

// workNode works a flow node and completes it.
func (m *Middleware) workNode(ctx context.Context, job *rivertype.JobRow, meta nodeMeta, timeout time.Duration, doInner func(context.Context) error) error {
	nc := &nodeContext{pool: m.pool, job: job, jobID: job.ID, attempt: job.Attempt, meta: meta}
	ctx = context.WithValue(ctx, nodeContextKey{}, nc)
	err := doInner(ctx)
	if timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Over its timeout the attempt fails, even if Work ignored the
		// cancelled context and returned nil.
		return fmt.Errorf("htdag: node %q exceeded its timeout of %d ms: %w", meta.NodeID, timeout.Milliseconds(), errors.Join(ctx.Err(), err))
	}
	if err != nil {
		return err
	}
	if nc.skip != nil {
		nc.expand, nc.output = nil, nil
	}
	if nc.expand != nil {
		nc.txFuncs = append(nc.txFuncs, expandInTx(nc))
	}
	return m.completer.complete(nc)
}

func (m *Middleware) countActive(queue string, d int) {
	m.activeMu.Lock()
	if m.active == nil {
		m.active = map[string]int{}
	}
	m.active[queue] += d
	m.activeMu.Unlock()
}

// freeSlots is each queue's MaxWorkers less the jobs of the queue being
// worked now.
func (m *Middleware) freeSlots(queues map[string]river.QueueConfig) map[string]int {
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	free := make(map[string]int, len(queues))
	for q, qc := range queues {
		free[q] = max(qc.MaxWorkers-m.active[q], 0)
	}
	return free
}

// joinOnFirstJob joins the fleet for a process that did not call JoinFleet.
// A failure (a database migrated before the fleet existed, say) is logged
// once and not tried again: jobs run without it.
func (m *Middleware) joinOnFirstJob(ctx context.Context) {
	m.joinMu.Lock()
	defer m.joinMu.Unlock()
	if m.fleet.Load() != nil || m.joinFailed {
		return
	}
	// It leaves when its River client has stopped, which River's work
	// context tells (the client handed its work back by then).
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err == nil {
		var f *Fleet
		f, err = JoinFleet(context.WithoutCancel(ctx), m.pool, m.riverConfig, &FleetConfig{quietLeave: true})
		if err == nil {
			m.fleet.CompareAndSwap(nil, f)
			go func() {
				<-client.Stopped()
				_ = f.Leave(context.Background())
			}()
			return
		}
	}
	m.joinFailed = true
	logger := m.riverConfig.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.ErrorContext(ctx, "htdag: could not join the fleet; this worker's nodes will not be rescued in seconds if it dies", "error", err)
}

// expandInTx inserts nc's child run and parks the node (flow.expand).
func expandInTx(nc *nodeContext) func(ctx context.Context, tx pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT flow.expand($1, $2::jsonb)", nc.jobID, string(nc.expand))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "22023" || pgErr.Code == "42501") {
			// An invalid spec, a limit, a kind the run's owner may not
			// start: every retry would fail alike.
			return river.JobCancel(fmt.Errorf("htdag: node %q cannot expand: %s", nc.meta.NodeID, pgErr.Message))
		}
		return err
	}
}

// CompleterStats counts the grouped completer's work since the middleware
// was made.
type CompleterStats struct {
	Completions int64 // jobs the completer moved to completed
	Failures    int64 // completions it could not make (job no longer running, InTx or commit error)
	Commits     int64 // statements or transactions that completed them
}

// Stats returns the completer's counters.
func (m *Middleware) Stats() CompleterStats { return m.completer.stats() }
