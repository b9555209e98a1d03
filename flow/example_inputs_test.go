package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// CountArgs is a node that counts the lines of a file (kind "count").
type CountArgs struct {
	File string `json:"file"`
}

func (CountArgs) Kind() string { return "count" }

type CountWorker struct {
	river.WorkerDefaults[CountArgs]
}

func (*CountWorker) Work(ctx context.Context, job *river.Job[CountArgs]) error {
	lines := map[string]int{"a.go": 120, "b.go": 80}[job.Args.File]
	// The node's output, written with its completion under the job's
	// metadata key "output", where its children read it.
	return flow.SetOutput(ctx, lines)
}

// TotalArgs is a node that adds its parents' counts (kind "add").
type TotalArgs struct{}

func (TotalArgs) Kind() string { return "add" }

type TotalWorker struct {
	river.WorkerDefaults[TotalArgs]
}

func (*TotalWorker) Work(ctx context.Context, _ *river.Job[TotalArgs]) error {
	// The run's input and each parent's output by node id, in one query.
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err // flow.ErrNotNode outside a flow node
	}
	var input struct {
		Unit string `json:"unit"`
	}
	if err := json.Unmarshal(in.Input, &input); err != nil {
		return err
	}
	total := 0
	for _, raw := range in.Parents {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		total += n
	}
	return flow.SetOutput(ctx, fmt.Sprintf("%d %s", total, input.Unit))
}

// Inside Work, a node reads the run's input and its parents' outputs with
// Inputs and records its own output with SetOutput.
func ExampleInputs() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &CountWorker{})
	river.AddWorker(workers, &TotalWorker{})
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("lines").Input(map[string]string{"unit": "lines"})
	a := w.Add("a", CountArgs{File: "a.go"})
	b := w.Add("b", CountArgs{File: "b.go"})
	w.Output(w.Add("total", TotalArgs{}, flow.After(a, b)))
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(run.Output))
	// Output:
	// "200 lines"
}
