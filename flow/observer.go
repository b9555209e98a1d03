package flow

import (
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Observer receives what the flow [Middleware] sees, for metrics: each flow
// node's attempt as it ends, and each grouped commit of the completer. Its
// methods run on the hot path, in the goroutine of the attempt or of the
// commit, so they must be quick and must not block (count in atomics or a
// Prometheus collector; never a query). Install it with
// [Middleware.SetObserver] before the River client starts; without one the
// middleware measures nothing.
type Observer interface {
	// NodeWorked is called once per attempt of a flow node (and of a
	// flow.start job), after Work returned and, when it returned nil, after
	// the completion committed or failed.
	NodeWorked(NodeAttempt)
	// CompletionsCommitted is called after each grouped completion: one
	// statement or transaction that completed (or tried to complete) the
	// nodes of a batch.
	CompletionsCommitted(CompleterCommit)
}

// NodeOutcome is how a node's attempt ended, as River will record it.
type NodeOutcome string

// The outcomes of an attempt.
const (
	// OutcomeCompleted: Work returned nil and the completion committed.
	OutcomeCompleted NodeOutcome = "completed"
	// OutcomeRetryable: the attempt failed and River will try again.
	OutcomeRetryable NodeOutcome = "retryable"
	// OutcomeDiscarded: the attempt failed and it was the last one.
	OutcomeDiscarded NodeOutcome = "discarded"
	// OutcomeCancelled: Work returned river.JobCancel (or the node's run
	// was cancelled while it ran).
	OutcomeCancelled NodeOutcome = "cancelled"
	// OutcomeSnoozed: Work returned river.JobSnooze.
	OutcomeSnoozed NodeOutcome = "snoozed"
)

// NodeAttempt describes one ended attempt of a flow node.
type NodeAttempt struct {
	Kind    string
	Queue   string
	Attempt int
	Outcome NodeOutcome
	// Duration runs from the middleware's start (before Work) to the
	// outcome (after the completion committed, for a completed node).
	Duration time.Duration
}

// CompleterCommit describes one grouped completion.
type CompleterCommit struct {
	// Nodes is the batch's size; Completed how many of them it completed.
	Nodes, Completed int
	// Duration is the commit's round trip, retries included.
	Duration time.Duration
}

// SetObserver installs o (nil removes it). Call it before the River client
// starts; it is read without a lock on every attempt.
func (m *Middleware) SetObserver(o Observer) {
	if o == nil {
		m.observer.Store(nil)
		m.completer.observer.Store(nil)
		return
	}
	m.observer.Store(&o)
	m.completer.observer.Store(&o)
}

// outcomeOf tells how River will record an attempt that returned err.
func outcomeOf(job *rivertype.JobRow, err error) NodeOutcome {
	var (
		cancel *river.JobCancelError
		snooze *river.JobSnoozeError
	)
	switch {
	case err == nil:
		return OutcomeCompleted
	case errors.As(err, &cancel):
		return OutcomeCancelled
	case errors.As(err, &snooze):
		return OutcomeSnoozed
	case job.Attempt >= job.MaxAttempts:
		return OutcomeDiscarded
	default:
		return OutcomeRetryable
	}
}
