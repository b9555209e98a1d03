package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// WaitKind is the job kind of a wait node: a node that runs no work and
// waits for an outside event, [Client.Signal] or SQL flow.signal (README
// "Signals and waits"). River fetches such a job only when its timeout
// fires; [WaitWorker] works it then.
const WaitKind = "flow.wait"

// WaitSpec makes a node a wait node (the spec's "wait" object). A wait node
// has no kind, args, workflow, map, at, max_attempts or timeout_ms of its
// own. Once released it waits, costing no worker slot, until a signal
// completes it with the signal's payload as its output.
type WaitSpec struct {
	// TimeoutMS bounds the wait, in milliseconds from its release, 1 to
	// 315360000000 (default 0: it waits for ever). When it fires the node
	// fails, or completes with Default.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Default, when set, is the node's output if the timeout fires (default
	// none: the node fails). Only with TimeoutMS.
	Default json.RawMessage `json:"default,omitempty"`
}

// Wait is how a wait node added with [Workflow.AddWait] waits.
type Wait struct {
	// Timeout bounds the wait, whole milliseconds (default 0: no timeout).
	Timeout time.Duration
	// Default, when not nil, is the node's output (as JSON) if the timeout
	// fires; without it the node fails then. Pass json.RawMessage("null")
	// for a JSON null. Needs a Timeout.
	Default any
}

// AddWait adds a wait node: once its parents complete it waits for a
// signal ([Client.Signal], SQL flow.signal), whose payload becomes its
// output, or for its timeout (see [WaitSpec]). Options that belong to jobs
// (WithMaxAttempts, WithTimeout, WithAt) make the spec invalid.
func (w *Workflow) AddWait(id string, wait Wait, opts ...NodeOption) *Node {
	node := &Node{id: id, w: w}
	ws := &WaitSpec{}
	switch {
	case wait.Timeout < 0 || (wait.Timeout > 0 && wait.Timeout < time.Millisecond):
		w.fail(fmt.Errorf("node %q: wait timeout %v is not a positive number of milliseconds", id, wait.Timeout))
		return node
	case wait.Timeout > 0:
		ws.TimeoutMS = wait.Timeout.Milliseconds()
	}
	if wait.Default != nil {
		raw, err := json.Marshal(wait.Default)
		if err != nil {
			w.fail(fmt.Errorf("node %q: encoding the wait's default: %w", id, err))
			return node
		}
		ws.Default = raw
	}
	w.addNode(NodeSpec{ID: id, Wait: ws}, opts)
	return node
}

// WaitArgs are a wait node's job args: its [WaitSpec].
type WaitArgs struct {
	WaitSpec
}

// Kind implements river.JobArgs.
func (WaitArgs) Kind() string { return WaitKind }

// WaitWorker works a wait node's job when River fetches it, which happens
// only once its timeout fired (a signal completes the job without River):
// the node completes with its default, or fails with "htdag: node X waited
// D for a signal and timed out" (its job has one attempt, so it is
// discarded). It needs [Middleware]; [RiverConfig] installs both.
type WaitWorker struct {
	river.WorkerDefaults[WaitArgs]
}

// Work implements river.Worker.
func (*WaitWorker) Work(ctx context.Context, job *river.Job[WaitArgs]) error {
	nc := nodeFromContext(ctx)
	if nc == nil {
		return ErrNotNode
	}
	if len(job.Args.Default) > 0 {
		nc.output = job.Args.Default
		return nil
	}
	return fmt.Errorf("htdag: node %s waited %v for a signal and timed out", nc.meta.NodeID,
		time.Duration(job.Args.TimeoutMS)*time.Millisecond)
}
