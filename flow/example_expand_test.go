package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"slices"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// ShardArgs is a node that counts the files of a directory, expanding into
// one node per file when it holds several (kind "shard").
type ShardArgs struct {
	Files []string `json:"files"`
}

func (ShardArgs) Kind() string { return "shard" }

type ShardWorker struct {
	river.WorkerDefaults[ShardArgs]
}

// Work expands at run time: the node finishes only when its sub-DAG has, and
// its output is the sub-DAG's ("merge"'s output here).
func (*ShardWorker) Work(ctx context.Context, job *river.Job[ShardArgs]) error {
	if len(job.Args.Files) <= 1 {
		return flow.SetOutput(ctx, job.Args.Files)
	}
	sub := flow.New("shard")
	var parts []*flow.Node
	for i, f := range job.Args.Files {
		parts = append(parts, sub.Add(fmt.Sprintf("file%d", i), ShardArgs{Files: []string{f}}))
	}
	sub.Output(sub.Add("merge", MergeArgs{}, flow.After(parts...)))
	return flow.Expand(ctx, sub)
}

// MergeArgs is a node whose output is its parents' file lists joined and
// sorted (kind "merge").
type MergeArgs struct{}

func (MergeArgs) Kind() string { return "merge" }

type MergeWorker struct {
	river.WorkerDefaults[MergeArgs]
}

func (*MergeWorker) Work(ctx context.Context, _ *river.Job[MergeArgs]) error {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var all []string
	for _, raw := range in.Parents {
		var files []string
		if err := json.Unmarshal(raw, &files); err != nil {
			return err
		}
		all = append(all, files...)
	}
	slices.Sort(all)
	return flow.SetOutput(ctx, all)
}

// A node that expands into a sub-DAG decided at run time (flow.Expand): here
// one node per file, then a merge.
func ExampleExpand() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &ShardWorker{})
	river.AddWorker(workers, &MergeWorker{})
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("count files")
	w.Add("src", ShardArgs{Files: []string{"b.go", "a.go", "c.go"}})
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State, string(run.Output))

	tree, err := client.Tree(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range tree {
		fmt.Println(n.Path, n.State)
	}
	// Output:
	// completed {"src": ["a.go", "b.go", "c.go"]}
	// src completed
	// src/file0 completed
	// src/file1 completed
	// src/file2 completed
	// src/merge completed
}
