package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// ListArgs is a node whose output is its Items (kind "list").
type ListArgs struct {
	Items []string `json:"items"`
}

func (ListArgs) Kind() string { return "list" }

type ListWorker struct {
	river.WorkerDefaults[ListArgs]
}

func (*ListWorker) Work(ctx context.Context, job *river.Job[ListArgs]) error {
	return flow.SetOutput(ctx, job.Args.Items)
}

// LengthArgs is a map's element job (kind "length"): its output is the
// length of its element.
type LengthArgs struct{}

func (LengthArgs) Kind() string { return "length" }

type LengthWorker struct {
	river.WorkerDefaults[LengthArgs]
}

func (*LengthWorker) Work(ctx context.Context, _ *river.Job[LengthArgs]) error {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var item string
	if err := json.Unmarshal(in.Item, &item); err != nil {
		return err
	}
	return flow.SetOutput(ctx, len(item))
}

// A map runs one job per element of a parent's output array, in parallel;
// its output is their outputs in element order, for the nodes after it.
func ExampleWorkflow_AddMap() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &ListWorker{})
	river.AddWorker(workers, &LengthWorker{})
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("lengths")
	words := w.Add("words", ListArgs{Items: []string{"map", "over", "elements"}})
	w.Output(w.AddMap("lengths", words, LengthArgs{}))

	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State, string(run.Output))
	// Output:
	// completed [3, 4, 8]
}
