package flow

import "github.com/riverqueue/river/rivertype"

// NodeState is a node's state: its River job's state, [NodeStateSkipped]
// for a completed job its trigger rule, "if" or [Skip] skipped,
// [NodeStateWaiting] for a wait node waiting for a signal, or
// [NodeStateDeleted] once the job row is gone. A node has no state of its own; the job's state
// is the node's (see the README's "The model").
//
// It is a type of htdag's rather than River's rivertype.JobState because a
// node can be in a state that no job is in (deleted): adding that value to
// River's type would put into it a value River never produces and that its
// list of states (rivertype.JobStates) does not hold. Convert with
// NodeState(job.State) and rivertype.JobState(s).
type NodeState string

// Node states: River's job states, plus skipped, waiting and deleted.
const (
	// NodeStatePending: waiting for its parents (or, for a sub-workflow,
	// map or expanded node, for its child run). River never fetches it.
	NodeStatePending NodeState = NodeState(rivertype.JobStatePending)
	// NodeStateScheduled: released, but not before its "at".
	NodeStateScheduled NodeState = NodeState(rivertype.JobStateScheduled)
	// NodeStateAvailable: released, waiting for a worker.
	NodeStateAvailable NodeState = NodeState(rivertype.JobStateAvailable)
	// NodeStateRunning: a worker is working it.
	NodeStateRunning NodeState = NodeState(rivertype.JobStateRunning)
	// NodeStateRetryable: an attempt failed; River tries again later.
	NodeStateRetryable NodeState = NodeState(rivertype.JobStateRetryable)
	// NodeStateCompleted: done; its children may run.
	NodeStateCompleted NodeState = NodeState(rivertype.JobStateCompleted)
	// NodeStateCancelled: cancelled (by flow.cancel, River's cancel, or
	// because a node above it failed).
	NodeStateCancelled NodeState = NodeState(rivertype.JobStateCancelled)
	// NodeStateDiscarded: out of attempts (or its child run failed).
	NodeStateDiscarded NodeState = NodeState(rivertype.JobStateDiscarded)
	// NodeStateSkipped: finished without running its work: its "if" was
	// false, its trigger rule could no longer be met (a parent skipped, or
	// no parent failed for one_failed), or its Work called [Skip]. Its job
	// is completed, with the reason in metadata "flow_skipped", and it has
	// no output. Its children decide by their own rules (all_success
	// children are skipped too); a run whose nodes completed or were
	// skipped completes.
	NodeStateSkipped NodeState = "skipped"
	// NodeStateWaiting: a wait node waiting for a signal ([Client.Signal]):
	// its job is pending (no timeout) or scheduled for its timeout, with
	// metadata flow_waiting_since. River never works it before the timeout.
	NodeStateWaiting NodeState = "waiting"
	// NodeStateDeleted: its job row was deleted (by hand: River's cleaner
	// leaves flow jobs alone, and runs are deleted whole).
	NodeStateDeleted NodeState = "deleted"
)

// NodeStates returns every node state, River's job states first, in the
// order of rivertype.JobStates, then skipped, waiting and deleted.
func NodeStates() []NodeState {
	out := make([]NodeState, 0, len(rivertype.JobStates())+3)
	for _, s := range rivertype.JobStates() {
		out = append(out, NodeState(s))
	}
	return append(out, NodeStateSkipped, NodeStateWaiting, NodeStateDeleted)
}

// Finished reports whether the node can no longer run: completed, skipped,
// cancelled or discarded (the states River calls finalized).
func (s NodeState) Finished() bool {
	return s == NodeStateCompleted || s == NodeStateSkipped || s == NodeStateCancelled || s == NodeStateDiscarded
}

// Failed reports whether the node ended without completing: cancelled or
// discarded. A run with a failed node ends failed (or cancelled).
func (s NodeState) Failed() bool {
	return s == NodeStateCancelled || s == NodeStateDiscarded
}
