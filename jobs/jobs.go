// Package jobs holds htdag's built-in node kinds, registered by `worker run`
// for demos, tests and benchmarks: noop, sleep, echo, fail, items, and decompose
// (with decompose.sum), which expands at run time.
package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// NoopArgs is a node that does nothing (kind "noop").
type NoopArgs struct{}

// Kind implements river.JobArgs.
func (NoopArgs) Kind() string { return "noop" }

// NoopWorker works "noop" nodes.
type NoopWorker struct{ river.WorkerDefaults[NoopArgs] }

// Work does nothing.
func (*NoopWorker) Work(context.Context, *river.Job[NoopArgs]) error { return nil }

// SleepArgs is a node that sleeps MS milliseconds (kind "sleep").
type SleepArgs struct {
	MS int `json:"ms"`
}

// Kind implements river.JobArgs.
func (SleepArgs) Kind() string { return "sleep" }

// SleepWorker works "sleep" nodes.
type SleepWorker struct {
	river.WorkerDefaults[SleepArgs]
}

// Work sleeps, or returns early when the job's context is cancelled.
func (*SleepWorker) Work(ctx context.Context, job *river.Job[SleepArgs]) error {
	t := time.NewTimer(time.Duration(job.Args.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// EchoArgs is a node whose output echoes what it was given (kind "echo"):
// any JSON object.
type EchoArgs map[string]any

// Kind implements river.JobArgs.
func (EchoArgs) Kind() string { return "echo" }

// EchoOutput is an echo node's output.
type EchoOutput struct {
	Node    string                     `json:"node"`
	Args    json.RawMessage            `json:"args"`
	Input   json.RawMessage            `json:"input"`
	Parents map[string]json.RawMessage `json:"parents"`
}

// EchoWorker works "echo" nodes.
type EchoWorker struct{ river.WorkerDefaults[EchoArgs] }

// Work outputs the node's args, the run input and its parents' outputs.
func (*EchoWorker) Work(ctx context.Context, job *river.Job[EchoArgs]) error {
	out := EchoOutput{Args: job.EncodedArgs, Parents: map[string]json.RawMessage{}}
	if in, err := flow.Inputs(ctx); err == nil {
		out.Input, out.Parents = in.Input, in.Parents
		out.Node, _ = flow.NodeID(ctx)
	}
	return flow.SetOutput(ctx, out)
}

// ItemsArgs is a node whose output is Items, an array (kind "items"): a
// source for a map node ({"map": "<this node>"}) in demos and tests.
type ItemsArgs struct {
	Items []json.RawMessage `json:"items"`
}

// Kind implements river.JobArgs.
func (ItemsArgs) Kind() string { return "items" }

// ItemsWorker works "items" nodes.
type ItemsWorker struct {
	river.WorkerDefaults[ItemsArgs]
}

// Work outputs the items ([] when there are none).
func (*ItemsWorker) Work(ctx context.Context, job *river.Job[ItemsArgs]) error {
	items := job.Args.Items
	if items == nil {
		items = []json.RawMessage{}
	}
	return flow.SetOutput(ctx, items)
}

// FailArgs is a node that fails its first Times attempts, then succeeds
// (kind "fail").
type FailArgs struct {
	Times int `json:"times"`
}

// Kind implements river.JobArgs.
func (FailArgs) Kind() string { return "fail" }

// FailWorker works "fail" nodes.
type FailWorker struct{ river.WorkerDefaults[FailArgs] }

// NextRetry retries failed attempts at once, so demos do not wait on River's
// backoff.
func (*FailWorker) NextRetry(*river.Job[FailArgs]) time.Time { return time.Now() }

// Work fails while the attempt number is at most Times.
func (*FailWorker) Work(ctx context.Context, job *river.Job[FailArgs]) error {
	if job.Attempt <= job.Args.Times {
		return fmt.Errorf("fail: attempt %d of %d planned failures", job.Attempt, job.Args.Times)
	}
	return flow.SetOutput(ctx, map[string]int{"attempts": job.Attempt})
}

// Register adds the built-in kinds to workers. flow's own kind (flow.start)
// is added by flow.RiverConfig, not here.
func Register(workers *river.Workers) {
	river.AddWorker(workers, &NoopWorker{})
	river.AddWorker(workers, &SleepWorker{})
	river.AddWorker(workers, &EchoWorker{})
	river.AddWorker(workers, &FailWorker{})
	river.AddWorker(workers, &ItemsWorker{})
	river.AddWorker(workers, &DecomposeWorker{})
	river.AddWorker(workers, &SumWorker{})
}
