package flow

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// NodeInfo is one row of the flow.nodes view.
type NodeInfo struct {
	// RunID is the node's run.
	RunID int64
	// NodeID is the node's id in the spec.
	NodeID string
	// JobID is the id of the node's River job.
	JobID int64
	// Kind is the job's kind ("flow.workflow" or "flow.map" for a
	// sub-workflow or map node, "flow.wait" for a wait node; "" once the
	// job is deleted).
	Kind string
	// State is the job's state, NodeStateSkipped for a skipped node,
	// NodeStateWaiting for a wait node waiting for a signal,
	// NodeStateDeleted once its row is gone.
	State NodeState
	// Attempt is the job's attempt number: 0 until it first runs.
	Attempt int
	// MaxAttempts is the job's attempt budget (0 once deleted).
	MaxAttempts int
	// Parents are the ids of the nodes it waits for (empty for a root).
	Parents []string
	// Waiting is how many of its parents have not completed.
	Waiting int
	// LastError is the error of its last failed attempt ("" if none).
	LastError string
	// Output is what the node recorded with SetOutput; nil if nothing.
	Output json.RawMessage
	// AttemptedAt is when its last attempt started; nil until one did.
	AttemptedAt *time.Time
	// FinalizedAt is when it finished; nil until then.
	FinalizedAt *time.Time
	// ChildRunID is the child run a sub-workflow, map or expanded node runs
	// as, once it started.
	ChildRunID *int64
	// TriggerRule is when the node runs (default [TriggerAllSuccess]).
	TriggerRule TriggerRule
	// Condition is the node's "if" ("" if none).
	Condition string
	// SkipReason says why the node was skipped ("" unless it was).
	SkipReason string
	// ConcurrencyKey is the node's concurrency key ("" if none; README
	// "Concurrency keys") and ConcurrencyLimit its limit (0 if none).
	ConcurrencyKey   string
	ConcurrencyLimit int
	// WaitingForSlot is true while the node is pending only because its
	// key has no free slot.
	WaitingForSlot bool
}

// Nodes lists a run's nodes in job id order (the order of the spec).
func (c *Client) Nodes(ctx context.Context, runID int64) ([]*NodeInfo, error) {
	rows, err := c.pool.Query(ctx, `
		SELECT run_id, node_id, job_id, coalesce(kind, ''), state, coalesce(attempt, 0), coalesce(max_attempts, 0),
		       parents, waiting, coalesce(last_error, ''), output, attempted_at, finalized_at, child_run_id,
		       trigger_rule, coalesce(condition, ''), coalesce(skip_reason, ''),
		       coalesce(concurrency_key, ''), coalesce(concurrency_limit, 0), coalesce(waiting_for_slot, false)
		  FROM flow.nodes WHERE run_id = $1 ORDER BY job_id`, runID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*NodeInfo, error) {
		var n NodeInfo
		err := row.Scan(&n.RunID, &n.NodeID, &n.JobID, &n.Kind, &n.State, &n.Attempt, &n.MaxAttempts,
			&n.Parents, &n.Waiting, &n.LastError, &n.Output, &n.AttemptedAt, &n.FinalizedAt, &n.ChildRunID,
			&n.TriggerRule, &n.Condition, &n.SkipReason, &n.ConcurrencyKey, &n.ConcurrencyLimit, &n.WaitingForSlot)
		return &n, err
	})
}

// TreeNode is one node of a run's tree (flow.tree): a node of the run or of
// any run below it.
type TreeNode struct {
	// RunID is the node's run: the run asked for or one below it.
	RunID int64
	// Depth is the depth of the node's run (0: a top run).
	Depth int
	// RunState is the state of the node's run.
	RunState RunState
	// Path is the node's place from the run asked for, such as "sub/m/7".
	Path string
	// NodeID, JobID, Kind, State, Attempt, LastError and Output are as in
	// NodeInfo.
	NodeID    string
	JobID     int64
	Kind      string
	State     NodeState
	Attempt   int
	LastError string
	Output    json.RawMessage
	// ChildRunID is the child run the node runs as; nil if none.
	ChildRunID *int64
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
