package flow

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunState is a run's state.
type RunState string

// Run states. A run is pending until one of its nodes starts, running until no
// node can run any more, then completed, failed or cancelled.
const (
	// RunStatePending: no node has started yet (a new run's state).
	RunStatePending RunState = "pending"
	// RunStateRunning: some node has started, and some node can still run.
	RunStateRunning RunState = "running"
	// RunStateCompleted: every node completed.
	RunStateCompleted RunState = "completed"
	// RunStateFailed: some node was discarded or cancelled, and nothing
	// more can run.
	RunStateFailed RunState = "failed"
	// RunStateCancelled: the run was cancelled (flow.cancel, or its
	// deadline: see [Run].CancelReason) and nothing runs any more.
	RunStateCancelled RunState = "cancelled"
)

// Finished reports whether no node of the run can run any more.
func (s RunState) Finished() bool {
	return s == RunStateCompleted || s == RunStateFailed || s == RunStateCancelled
}

// Run is one row of flow.run.
type Run struct {
	// ID is the run's id, as Start returned it.
	ID int64
	// Name is the spec's name ("" when it had none).
	Name string
	// State is the run's state; see RunState.
	State RunState
	// Input is the spec's input (JSON null when it had none).
	Input json.RawMessage
	// Output is set when the run finishes: its output node's output, a
	// map's array, or else an object of its completed sink nodes' outputs
	// keyed by node id. Nil until then.
	Output json.RawMessage
	// NodeCount is the number of the run's own nodes (not its child runs').
	NodeCount int
	// Unfinished counts the run's nodes not completed, cancelled or
	// discarded; the run is finished exactly when it is 0.
	Unfinished int
	// Failed counts the run's nodes cancelled or discarded.
	Failed int
	// CreatedAt is when the run was started.
	CreatedAt time.Time
	// StartedAt is when its first node started; nil while pending.
	StartedAt *time.Time
	// FinishedAt is when it finished; nil until then.
	FinishedAt *time.Time
	// CancelledAt is when Cancel was called (the run ends cancelled); nil if
	// it was not.
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
	// Owner is the role that started the run (its top run's, for a child
	// run): who may see, cancel and retry it.
	Owner string
	// TimeoutMS is the spec's "timeout_ms" (0: the run has no deadline).
	TimeoutMS int64
	// DeadlineAt is when the run is cancelled if it has not finished: its
	// start (or last retry) plus TimeoutMS. Nil without a deadline.
	DeadlineAt *time.Time
	// CancelReason says why a cancelled run was cancelled: "run N was
	// cancelled" (Cancel of run N, this one or one above it) or "run N
	// passed its deadline (timeout_ms T) and was cancelled". "" otherwise.
	CancelReason string
}

// ErrRunNotFound is returned for a run id that does not exist.
var ErrRunNotFound = errors.New("run not found")

// runColumns are read from flow.run (which row level security limits to the
// runs a reader may see). A child run's input may be its node's inputs by
// reference: flow.run_input resolves it.
const runColumns = `id, name, state, CASE WHEN input_from_parent THEN flow.run_input(id) ELSE input END, output,
	node_count, unfinished, failed, created_at, started_at, finished_at, cancelled_at,
	parent_run_id, parent_job_id, (SELECT n.node_id FROM flow.node n WHERE n.job_id = parent_job_id), coalesce(root_run_id, id), depth,
	owner, coalesce(timeout_ms, 0), deadline_at, coalesce(cancel_reason, '')`

func scanRun(row pgx.Row) (*Run, error) {
	var r Run
	var state string
	if err := row.Scan(&r.ID, &r.Name, &state, &r.Input, &r.Output, &r.NodeCount, &r.Unfinished, &r.Failed,
		&r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.CancelledAt,
		&r.ParentRunID, &r.ParentJobID, &r.ParentNodeID, &r.TopRunID, &r.Depth, &r.Owner,
		&r.TimeoutMS, &r.DeadlineAt, &r.CancelReason); err != nil {
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
