package jobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// DecomposeArgs is a node that sums the integers in [From, To) by divide and
// conquer (kind "decompose"): a range of fewer than Threshold integers is
// summed at once; a larger one expands at run time into a sub-DAG of two
// decompose nodes (the halves) and a "decompose.sum" node that adds their
// sums, whose output becomes this node's. Splitting {"from": 0, "to":
// 100000} with threshold 100 nests ten levels of child runs.
type DecomposeArgs struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Threshold is the size below which a range is summed directly
	// (default 100; at least 2).
	Threshold int64 `json:"threshold,omitempty"`
}

// Kind implements river.JobArgs.
func (DecomposeArgs) Kind() string { return "decompose" }

// SumOutput is the output of decompose and decompose.sum nodes.
type SumOutput struct {
	Sum int64 `json:"sum"`
}

// DecomposeWorker works "decompose" nodes.
type DecomposeWorker struct {
	river.WorkerDefaults[DecomposeArgs]
}

// Work sums a small range, or expands a large one into its two halves.
func (*DecomposeWorker) Work(ctx context.Context, job *river.Job[DecomposeArgs]) error {
	a := job.Args
	if a.Threshold == 0 {
		a.Threshold = 100
	}
	if a.To < a.From || a.Threshold < 2 {
		return river.JobCancel(fmt.Errorf("decompose: need from <= to and threshold >= 2, got from %d, to %d, threshold %d",
			a.From, a.To, a.Threshold))
	}
	if a.To-a.From < a.Threshold {
		// Sum of the integers in [from, to), without a loop.
		n := a.To - a.From
		return flow.SetOutput(ctx, SumOutput{Sum: (a.From + a.To - 1) * n / 2})
	}
	mid := a.From + (a.To-a.From)/2
	w := flow.New(fmt.Sprintf("decompose %d..%d", a.From, a.To))
	lo := w.Add("lo", DecomposeArgs{From: a.From, To: mid, Threshold: a.Threshold})
	hi := w.Add("hi", DecomposeArgs{From: mid, To: a.To, Threshold: a.Threshold})
	w.Output(w.Add("sum", SumArgs{}, flow.After(lo, hi)))
	return flow.Expand(ctx, w)
}

// SumArgs is a node whose output adds its parents' "sum" outputs (kind
// "decompose.sum").
type SumArgs struct{}

// Kind implements river.JobArgs.
func (SumArgs) Kind() string { return "decompose.sum" }

// SumWorker works "decompose.sum" nodes.
type SumWorker struct{ river.WorkerDefaults[SumArgs] }

// Work adds the parents' sums.
func (*SumWorker) Work(ctx context.Context, _ *river.Job[SumArgs]) error {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var total int64
	for id, raw := range in.Parents {
		var s SumOutput
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("decompose.sum: parent %q: %w", id, err)
		}
		total += s.Sum
	}
	return flow.SetOutput(ctx, SumOutput{Sum: total})
}
