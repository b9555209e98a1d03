package render

import (
	"encoding/json"
	"io"
	"time"

	"github.com/htdag/htdag/flow"
)

// StatusDoc is `worker status --json`'s document. It has its own snake_case
// tags rather than flow's Go field names, as it is an interface for scripts;
// its shape only grows. Run and Nodes are the run asked for and its own
// nodes; Tree, Runs and Levels are its whole tree (every run below it,
// however deep: View shapes the text output only).
type StatusDoc struct {
	Run RunDoc `json:"run"`
	// Nodes are the run's own nodes, in spec order.
	Nodes []NodeDoc `json:"nodes"`
	// Tree is flow.tree's rows, one per node, depth first (a node's child
	// run's nodes follow it).
	Tree []TreeNodeDoc `json:"tree"`
	// Runs has one entry per run in Tree's order (the run asked for first).
	Runs []TreeRunDoc `json:"runs"`
	// Levels has one entry per depth, shallowest first.
	Levels []LevelDoc `json:"levels"`
}

// RunDoc is a run in JSON, in `worker status` and `worker runs`.
type RunDoc struct {
	ID         int64           `json:"id"`
	Name       string          `json:"name"`
	State      string          `json:"state"`
	NodeCount  int             `json:"node_count"`
	Unfinished int             `json:"unfinished"`
	Failed     int             `json:"failed"`
	NodeStates map[string]int  `json:"node_states"` // its own nodes by state (status only; null in runs)
	Input      json.RawMessage `json:"input"`
	Output     json.RawMessage `json:"output"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	DurationMS *float64        `json:"duration_ms"` // so far for an unfinished run; null before it started
	// Where the run sits in its tree: null parents and depth 0 for a top run.
	ParentRunID *int64  `json:"parent_run_id"`
	ParentJobID *int64  `json:"parent_job_id"`
	ParentNode  *string `json:"parent_node"` // the parent node's id (status only; null in runs)
	TopRunID    int64   `json:"top_run_id"`
	Depth       int     `json:"depth"`
	// TimeoutMS and DeadlineAt: the run's deadline (spec "timeout_ms"),
	// absent when it has none; CancelReason why a cancelled run was.
	TimeoutMS    int64      `json:"timeout_ms,omitempty"`
	DeadlineAt   *time.Time `json:"deadline_at,omitempty"`
	CancelReason string     `json:"cancel_reason,omitempty"`
}

// NodeDoc is one of a run's own nodes (flow.nodes).
type NodeDoc struct {
	NodeID      string          `json:"node_id"`
	JobID       int64           `json:"job_id"`
	Kind        string          `json:"kind"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Parents     []string        `json:"parents"`
	Waiting     int             `json:"waiting"`
	LastError   string          `json:"last_error"`
	Output      json.RawMessage `json:"output"`
	AttemptedAt *time.Time      `json:"attempted_at"`
	FinalizedAt *time.Time      `json:"finalized_at"`
	ChildRunID  *int64          `json:"child_run_id"`
	// ConcurrencyKey and WaitingForSlot are absent for a node without a
	// concurrency key.
	ConcurrencyKey string `json:"concurrency_key,omitempty"`
	WaitingForSlot bool   `json:"waiting_for_slot,omitempty"`
}

// TreeNodeDoc is one row of flow.tree: Path is the node's place from the run
// asked for ("sub/m/7"), Depth its run's depth in the whole tree (0: a top
// run).
type TreeNodeDoc struct {
	Path       string          `json:"path"`
	RunID      int64           `json:"run_id"`
	Depth      int             `json:"depth"`
	RunState   string          `json:"run_state"`
	NodeID     string          `json:"node_id"`
	JobID      int64           `json:"job_id"`
	Kind       string          `json:"kind"`
	State      string          `json:"state"`
	Attempt    int             `json:"attempt"`
	ChildRunID *int64          `json:"child_run_id"`
	LastError  string          `json:"last_error"`
	Output     json.RawMessage `json:"output"`
}

// TreeRunDoc summarises one run of the tree: its nodes by state and the
// totals of the subtree it heads (itself included). ParentPath is the path
// of the node it runs for (null for the run asked for).
type TreeRunDoc struct {
	ID          int64          `json:"id"`
	Depth       int            `json:"depth"`
	State       string         `json:"state"`
	ParentRunID *int64         `json:"parent_run_id"`
	ParentJobID *int64         `json:"parent_job_id"`
	ParentPath  *string        `json:"parent_path"`
	NodeCount   int            `json:"node_count"`
	NodeStates  map[string]int `json:"node_states"`
	Subtree     SubtreeDoc     `json:"subtree"`
}

// SubtreeDoc counts a run and every run below it.
type SubtreeDoc struct {
	Runs       int            `json:"runs"`
	Nodes      int            `json:"nodes"`
	NodeStates map[string]int `json:"node_states"`
}

// LevelDoc counts the runs at one depth of the tree and their nodes by
// state.
type LevelDoc struct {
	Depth      int            `json:"depth"`
	Runs       int            `json:"runs"`
	Nodes      int            `json:"nodes"`
	NodeStates map[string]int `json:"node_states"`
}

// runDuration is how long the run has been going, or took; false before it
// started.
func runDuration(run *flow.Run, now time.Time) (time.Duration, bool) {
	if run.StartedAt == nil {
		return 0, false
	}
	end := now
	if run.FinishedAt != nil {
		end = *run.FinishedAt
	}
	return end.Sub(*run.StartedAt), true
}

// NewRunDoc is r's JSON object; its duration runs until now when r has not
// finished.
func NewRunDoc(r *flow.Run, now time.Time) RunDoc {
	rd := RunDoc{
		ID: r.ID, Name: r.Name, State: string(r.State),
		NodeCount: r.NodeCount, Unfinished: r.Unfinished, Failed: r.Failed,
		Input: r.Input, Output: r.Output,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		ParentRunID: r.ParentRunID, ParentJobID: r.ParentJobID, TopRunID: r.TopRunID, Depth: r.Depth,
		TimeoutMS: r.TimeoutMS, DeadlineAt: r.DeadlineAt, CancelReason: r.CancelReason,
	}
	if d, ok := runDuration(r, now); ok {
		ms := float64(d) / float64(time.Millisecond)
		rd.DurationMS = &ms
	}
	return rd
}

// NewStatusDoc is the document StatusJSON prints: the tree's run, nodes (its
// own nodes, as flow.Client.Nodes returns them) and the whole tree.
func NewStatusDoc(t *Tree, nodes []*flow.NodeInfo, now time.Time) StatusDoc {
	doc := StatusDoc{
		Run:    NewRunDoc(t.run, now),
		Nodes:  make([]NodeDoc, 0, len(nodes)),
		Tree:   make([]TreeNodeDoc, 0, len(t.rows)),
		Runs:   make([]TreeRunDoc, 0, len(t.runs)),
		Levels: []LevelDoc{},
	}
	doc.Run.ParentNode = t.run.ParentNodeID
	doc.Run.NodeStates = map[string]int{}
	addCounts(doc.Run.NodeStates, t.root.counts)
	for _, n := range nodes {
		parents := n.Parents
		if parents == nil {
			parents = []string{}
		}
		doc.Nodes = append(doc.Nodes, NodeDoc{
			NodeID: n.NodeID, JobID: n.JobID, Kind: n.Kind, State: string(n.State),
			Attempt: n.Attempt, MaxAttempts: n.MaxAttempts, Parents: parents, Waiting: n.Waiting,
			LastError: n.LastError, Output: n.Output, AttemptedAt: n.AttemptedAt, FinalizedAt: n.FinalizedAt,
			ChildRunID: n.ChildRunID, ConcurrencyKey: n.ConcurrencyKey, WaitingForSlot: n.WaitingForSlot,
		})
	}
	for _, n := range t.rows {
		doc.Tree = append(doc.Tree, TreeNodeDoc{
			Path: n.Path, RunID: n.RunID, Depth: n.Depth, RunState: string(n.RunState),
			NodeID: n.NodeID, JobID: n.JobID, Kind: n.Kind, State: string(n.State), Attempt: n.Attempt,
			ChildRunID: n.ChildRunID, LastError: n.LastError, Output: n.Output,
		})
	}
	for _, r := range t.runs {
		rd := TreeRunDoc{
			ID: r.id, Depth: r.depth, State: string(r.state),
			NodeCount: len(r.nodes), NodeStates: map[string]int{},
			Subtree: SubtreeDoc{Runs: 1 + r.belowRuns, Nodes: len(r.nodes) + r.belowNodes, NodeStates: map[string]int{}},
		}
		addCounts(rd.NodeStates, r.counts)
		addCounts(rd.Subtree.NodeStates, r.counts)
		addCounts(rd.Subtree.NodeStates, r.belowCounts)
		if r.parent != nil {
			rd.ParentRunID, rd.ParentJobID, rd.ParentPath = &r.parent.RunID, &r.parent.JobID, &r.parent.Path
		} else if r == t.root {
			rd.ParentRunID, rd.ParentJobID = t.run.ParentRunID, t.run.ParentJobID
		}
		doc.Runs = append(doc.Runs, rd)
	}
	for _, l := range t.levels() {
		doc.Levels = append(doc.Levels, LevelDoc{Depth: l.depth, Runs: l.runs, Nodes: l.nodes, NodeStates: l.counts})
	}
	return doc
}

// StatusJSON prints `worker status --json`: NewStatusDoc's document.
func StatusJSON(w io.Writer, t *Tree, nodes []*flow.NodeInfo, now time.Time) error {
	return JSON(w, NewStatusDoc(t, nodes, now))
}
