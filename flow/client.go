package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultMaxNodes is the largest run flow.start accepts unless configured
// otherwise (Config.MaxNodes, or the database setting flow.max_nodes).
const DefaultMaxNodes = 100_000

// Config configures a [Client].
type Config struct {
	// MaxNodes caps the number of nodes in one run started by this client.
	// Zero defers to the database setting flow.max_nodes, whose default is
	// [DefaultMaxNodes].
	MaxNodes int
}

// Client starts, reads and waits for runs. It holds no run state; it is safe
// for concurrent use.
type Client struct {
	pool   *pgxpool.Pool
	config Config
}

// NewClient returns a client on pool. config may be nil.
func NewClient(pool *pgxpool.Pool, config *Config) *Client {
	c := &Client{pool: pool}
	if config != nil {
		c.config = *config
	}
	return c
}

// Start starts a run in its own transaction and returns its id.
func (c *Client) Start(ctx context.Context, spec Specifier) (int64, error) {
	return c.start(ctx, c.pool, spec)
}

// StartTx starts a run inside tx: it exists (and its roots become runnable)
// only if tx commits.
func (c *Client) StartTx(ctx context.Context, tx pgx.Tx, spec Specifier) (int64, error) {
	return c.start(ctx, tx, spec)
}

// StartJSON starts a run from a spec given as JSON, exactly as
// `SELECT flow.start(spec)` would.
func (c *Client) StartJSON(ctx context.Context, spec []byte) (int64, error) {
	return c.startRaw(ctx, c.pool, spec)
}

// StartJSONTx is StartJSON inside tx.
func (c *Client) StartJSONTx(ctx context.Context, tx pgx.Tx, spec []byte) (int64, error) {
	return c.startRaw(ctx, tx, spec)
}

// StartMany starts several runs in one transaction and one round trip, and
// returns their ids in order. Starting runs in groups costs far less per run
// than one transaction each (every start commits, and its NOTIFY holds
// PostgreSQL's notify lock through that commit). If any spec is invalid,
// none is started and the *SpecError says which (by position, from 1).
func (c *Client) StartMany(ctx context.Context, specs ...Specifier) ([]int64, error) {
	raws, err := encodeSpecs(specs)
	if err != nil {
		return nil, err
	}
	return c.startManyRaw(ctx, c.pool, raws)
}

// StartManyTx is StartMany inside tx.
func (c *Client) StartManyTx(ctx context.Context, tx pgx.Tx, specs ...Specifier) ([]int64, error) {
	raws, err := encodeSpecs(specs)
	if err != nil {
		return nil, err
	}
	return c.startManyRaw(ctx, tx, raws)
}

// StartManyJSON is StartMany for specs given as JSON.
func (c *Client) StartManyJSON(ctx context.Context, specs [][]byte) ([]int64, error) {
	return c.startManyRaw(ctx, c.pool, specs)
}

func encodeSpecs(specs []Specifier) ([][]byte, error) {
	raws := make([][]byte, len(specs))
	for i, s := range specs {
		raw, err := encodeSpec(s)
		var specErr *SpecError
		switch {
		case errors.As(err, &specErr):
			return nil, &SpecError{Problem: fmt.Sprintf("spec #%d: %s", i+1, specErr.Problem)}
		case err != nil:
			return nil, fmt.Errorf("spec #%d: %w", i+1, err)
		}
		raws[i] = raw
	}
	return raws, nil
}

// startManySQL starts the specs in order in one statement (so in one
// transaction even on the pool).
const startManySQL = `
SELECT flow.start(s.spec, $2)
  FROM unnest($1::jsonb[]) WITH ORDINALITY AS s(spec, i)
 ORDER BY s.i`

func (c *Client) startManyRaw(ctx context.Context, q querier, raws [][]byte) ([]int64, error) {
	texts := make([]string, len(raws))
	for i, raw := range raws {
		if !json.Valid(raw) {
			return nil, &SpecError{Problem: fmt.Sprintf("spec #%d: the spec is not valid JSON", i+1)}
		}
		texts[i] = string(raw)
	}
	rows, err := q.Query(ctx, startManySQL, texts, c.maxNodes())
	if err != nil {
		return nil, asSpecError(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		err = asSpecError(err)
		var specErr *SpecError
		if errors.As(err, &specErr) {
			// Say which spec: ask the checker, outside the failed statement.
			var pos int
			if qerr := c.pool.QueryRow(ctx, `
				SELECT s.i FROM unnest($1::jsonb[]) WITH ORDINALITY AS s(spec, i)
				 WHERE flow.spec_problem(s.spec, $2) IS NOT NULL ORDER BY s.i LIMIT 1`,
				texts, c.maxNodes()).Scan(&pos); qerr == nil {
				specErr.Problem = fmt.Sprintf("spec #%d: %s", pos, specErr.Problem)
			}
		}
		return nil, err
	}
	return ids, nil
}

func (c *Client) maxNodes() *int {
	if c.config.MaxNodes > 0 {
		return &c.config.MaxNodes
	}
	return nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (c *Client) start(ctx context.Context, q querier, s Specifier) (int64, error) {
	raw, err := encodeSpec(s)
	if err != nil {
		return 0, err
	}
	return c.startRaw(ctx, q, raw)
}

// encodeSpec turns a Specifier into the JSON flow.start takes.
func encodeSpec(s Specifier) ([]byte, error) {
	if s == nil {
		return nil, &SpecError{Problem: "the spec is nil"}
	}
	spec, err := s.Spec()
	if err != nil {
		return nil, err
	}
	if spec != nil && spec.Nodes == nil {
		// A workflow without nodes encodes "nodes" as null; send [] so that
		// flow.start names the real problem ("the workflow has no nodes").
		cp := *spec
		cp.Nodes = []NodeSpec{}
		spec = &cp
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding spec: %w", err)
	}
	return raw, nil
}

func (c *Client) startRaw(ctx context.Context, q querier, raw []byte) (int64, error) {
	if !json.Valid(raw) {
		return 0, &SpecError{Problem: "the spec is not valid JSON"}
	}
	var runID int64
	if err := q.QueryRow(ctx, "SELECT flow.start($1::jsonb, $2)", string(raw), c.maxNodes()).Scan(&runID); err != nil {
		return 0, asSpecError(err)
	}
	return runID, nil
}

// Cancel cancels every node of the run that has not finished: pending,
// available, scheduled and retryable nodes at once, running ones through
// River's cancel (their work context is cancelled). The run ends cancelled
// once nothing is running; Wait for it. Cancel reports false, and changes
// nothing, for a run that had already finished. It wraps flow.cancel.
func (c *Client) Cancel(ctx context.Context, runID int64) (bool, error) {
	var cancelled bool
	err := c.pool.QueryRow(ctx, "SELECT flow.cancel($1)", runID).Scan(&cancelled)
	return cancelled, runNotFound(err, runID)
}

// Retry resumes a failed or cancelled run from its failure frontier:
// completed nodes keep their outputs and do not run again; discarded nodes
// (with a fresh attempt budget) and cancelled ones go back to pending and run
// as soon as their parents have completed. It returns how many nodes were
// reset: 0, with nothing changed, for a run that is pending, running (one
// already retried, say) or completed. It wraps flow.retry.
func (c *Client) Retry(ctx context.Context, runID int64) (int, error) {
	var reset int
	err := c.pool.QueryRow(ctx, "SELECT flow.retry($1)", runID).Scan(&reset)
	return reset, runNotFound(err, runID)
}

// runNotFound turns the no_data_found (P0002) that flow.cancel and
// flow.retry raise for an unknown run into ErrRunNotFound.
func runNotFound(err error, runID int64) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "P0002" {
		return fmt.Errorf("run %d: %w", runID, ErrRunNotFound)
	}
	return err
}

// Problem is one row of flow.check: something about a run that breaks the
// engine's invariants (counts that disagree with the jobs, a stuck run, a
// lost release). NodeID is empty for a problem of the run as a whole.
type Problem struct {
	RunID   int64  `json:"run_id"`
	NodeID  string `json:"node_id,omitempty"`
	Problem string `json:"problem"`
}

// Check runs flow.check for one run (runID > 0, any state) or, with runID 0,
// for every unfinished run. A healthy database has no problems.
func (c *Client) Check(ctx context.Context, runID int64) ([]Problem, error) {
	var arg *int64
	if runID > 0 {
		arg = &runID
	}
	rows, err := c.pool.Query(ctx, "SELECT run_id, coalesce(node_id, ''), problem FROM flow.check($1) ORDER BY 1, 2", arg)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Problem, error) {
		var p Problem
		err := row.Scan(&p.RunID, &p.NodeID, &p.Problem)
		return p, err
	})
}

// DeleteFinishedRuns deletes, whole (jobs, nodes, run rows), the runs that
// finished more than olderThan ago, batch runs per transaction until none is
// left. It returns how many it deleted. It wraps flow.delete_finished_runs;
// `worker run --run-retention` calls it every minute.
func (c *Client) DeleteFinishedRuns(ctx context.Context, olderThan time.Duration, batch int) (int, error) {
	if batch < 1 {
		batch = 100
	}
	total := 0
	for {
		var n int
		if err := c.pool.QueryRow(ctx, "SELECT flow.delete_finished_runs($1, $2)", olderThan, batch).Scan(&n); err != nil {
			return total, err
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// RunState is a run's state.
type RunState string

// Run states. A run is pending until one of its nodes starts, running until no
// node can run any more, then completed (every node completed), failed (some
// node was discarded or cancelled) or cancelled.
const (
	RunStatePending   RunState = "pending"
	RunStateRunning   RunState = "running"
	RunStateCompleted RunState = "completed"
	RunStateFailed    RunState = "failed"
	RunStateCancelled RunState = "cancelled"
)

// Finished reports whether no node of the run can run any more.
func (s RunState) Finished() bool {
	return s == RunStateCompleted || s == RunStateFailed || s == RunStateCancelled
}

// Run is one row of flow.run.
type Run struct {
	ID         int64
	Name       string
	State      RunState
	Input      json.RawMessage
	Output     json.RawMessage // completed sink nodes' outputs by node id, once finished
	NodeCount  int
	Unfinished int
	Failed     int
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// CancelledAt is when Cancel was called (the run ends cancelled).
	CancelledAt *time.Time
	// ParentRunID and ParentJobID are set for a child run: the run and the
	// node (its job id) that started it. Nil for a top run.
	ParentRunID *int64
	ParentJobID *int64
	// ParentNodeID is the id of that node in the parent run.
	ParentNodeID *string
	// TopRunID is the top run of the run's tree (its own id for a top run).
	TopRunID int64
	// Depth is 0 for a top run, its parent's depth + 1 for a child run.
	Depth int
}

// ErrRunNotFound is returned for a run id that does not exist.
var ErrRunNotFound = errors.New("run not found")

const runColumns = `id, name, state, input, output, node_count, unfinished, failed, created_at, started_at, finished_at, cancelled_at,
	parent_run_id, parent_job_id, (SELECT node_id FROM flow.node WHERE job_id = parent_job_id), coalesce(root_run_id, id), depth`

func scanRun(row pgx.Row) (*Run, error) {
	var r Run
	var state string
	if err := row.Scan(&r.ID, &r.Name, &state, &r.Input, &r.Output, &r.NodeCount, &r.Unfinished, &r.Failed,
		&r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.CancelledAt,
		&r.ParentRunID, &r.ParentJobID, &r.ParentNodeID, &r.TopRunID, &r.Depth); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrRunNotFound
		}
		return nil, err
	}
	r.State = RunState(state)
	return &r, nil
}

// GetRun reads a run's current row.
func (c *Client) GetRun(ctx context.Context, runID int64) (*Run, error) {
	return getRun(ctx, c.pool, runID)
}

func getRun(ctx context.Context, q querier, runID int64) (*Run, error) {
	return scanRun(q.QueryRow(ctx, "SELECT "+runColumns+" FROM flow.run WHERE id = $1", runID))
}

// ListRuns lists top runs (not child runs), newest first: those in state
// (all when empty), at most limit of them (no limit when limit <= 0).
func (c *Client) ListRuns(ctx context.Context, state RunState, limit int) ([]*Run, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := c.pool.Query(ctx, "SELECT "+runColumns+" FROM flow.run WHERE parent_run_id IS NULL AND ($1 = '' OR state = $1) ORDER BY id DESC LIMIT $2",
		string(state), lim)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Run, error) { return scanRun(row) })
}

// NodeInfo is one row of the flow.nodes view.
type NodeInfo struct {
	RunID       int64
	NodeID      string
	JobID       int64
	Kind        string
	State       string // the River job's state ("deleted" once River's cleaner removed it)
	Attempt     int
	MaxAttempts int
	Parents     []string
	Waiting     int
	LastError   string
	Output      json.RawMessage
	AttemptedAt *time.Time
	FinalizedAt *time.Time
	// ChildRunID is the child run a sub-workflow, map or expanded node runs
	// as, once it started.
	ChildRunID *int64
}

// Nodes lists a run's nodes in job id order (the order of the spec).
func (c *Client) Nodes(ctx context.Context, runID int64) ([]*NodeInfo, error) {
	rows, err := c.pool.Query(ctx, `
		SELECT run_id, node_id, job_id, coalesce(kind, ''), state, coalesce(attempt, 0), coalesce(max_attempts, 0),
		       parents, waiting, coalesce(last_error, ''), output, attempted_at, finalized_at, child_run_id
		  FROM flow.nodes WHERE run_id = $1 ORDER BY job_id`, runID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*NodeInfo, error) {
		var n NodeInfo
		err := row.Scan(&n.RunID, &n.NodeID, &n.JobID, &n.Kind, &n.State, &n.Attempt, &n.MaxAttempts,
			&n.Parents, &n.Waiting, &n.LastError, &n.Output, &n.AttemptedAt, &n.FinalizedAt, &n.ChildRunID)
		return &n, err
	})
}

// TreeNode is one node of a run's tree (flow.tree): a node of the run or of
// any run below it.
type TreeNode struct {
	RunID      int64
	Depth      int      // the depth of the node's run (0: the top run)
	RunState   RunState // the state of the node's run
	Path       string   // the node's place from the run asked for, such as "sub/m/7"
	NodeID     string
	JobID      int64
	Kind       string
	State      string // the job's state ("deleted" once removed)
	Attempt    int
	ChildRunID *int64 // the child run the node runs as, if any
	LastError  string
	Output     json.RawMessage
}

// Tree returns every node of the run and of all runs below it in one query,
// depth first: a node's child run's nodes follow the node.
func (c *Client) Tree(ctx context.Context, runID int64) ([]*TreeNode, error) {
	rows, err := c.pool.Query(ctx, `
		SELECT run_id, depth, run_state, path, node_id, job_id, coalesce(kind, ''), state, coalesce(attempt, 0),
		       child_run_id, coalesce(last_error, ''), output
		  FROM flow.tree($1)`, runID)
	if err != nil {
		return nil, err
	}
	nodes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*TreeNode, error) {
		var n TreeNode
		var runState string
		err := row.Scan(&n.RunID, &n.Depth, &runState, &n.Path, &n.NodeID, &n.JobID, &n.Kind, &n.State, &n.Attempt,
			&n.ChildRunID, &n.LastError, &n.Output)
		n.RunState = RunState(runState)
		return &n, err
	})
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		if _, err := c.GetRun(ctx, runID); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}
