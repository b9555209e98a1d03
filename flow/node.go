package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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
	jobID   int64
	meta    nodeMeta
	output  []byte
	txFuncs []func(ctx context.Context, tx pgx.Tx) error
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

// NodeInputs is what a node reads of its run: the run's input and its
// parents' outputs keyed by parent node id.
type NodeInputs struct {
	Input   json.RawMessage            `json:"input"`
	Parents map[string]json.RawMessage `json:"parents"`
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

// Middleware is the River worker middleware that makes flow nodes fast and
// atomic. For a job that is a flow node it puts the node into the work
// context (for [SetOutput], [InTx], [Inputs]) and, when Work returns nil,
// completes the job through a grouped completer: a lone completion commits at
// once in its own statement, and completions that arrive while a commit is in
// flight are committed together in the next one. The release trigger then
// frees the children in that same transaction. Other jobs pass through
// untouched.
//
// Install one per process:
//
//	config := &river.Config{Middleware: []rivertype.Middleware{flow.NewMiddleware(pool)}, ...}
type Middleware struct {
	river.MiddlewareDefaults
	completer *completer
	pool      *pgxpool.Pool
}

var _ rivertype.WorkerMiddleware = (*Middleware)(nil)

// NewMiddleware returns the middleware for flow nodes completed on pool.
func NewMiddleware(pool *pgxpool.Pool) *Middleware {
	return &Middleware{pool: pool, completer: newCompleter(pool)}
}

// Work implements rivertype.WorkerMiddleware.
func (m *Middleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	var meta nodeMeta
	if err := json.Unmarshal(job.Metadata, &meta); (err != nil || meta.RunID == 0) && job.Kind != StartKind {
		return doInner(ctx)
	}
	nc := &nodeContext{pool: m.pool, jobID: job.ID, meta: meta}
	ctx = context.WithValue(ctx, nodeContextKey{}, nc)
	if meta.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(meta.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	err := doInner(ctx)
	if meta.TimeoutMS > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Over its timeout the attempt fails, even if Work ignored the
		// cancelled context and returned nil.
		return fmt.Errorf("htdag: node %q exceeded its timeout of %d ms: %w", meta.NodeID, meta.TimeoutMS, errors.Join(ctx.Err(), err))
	}
	if err != nil {
		return err
	}
	return m.completer.complete(nc)
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
