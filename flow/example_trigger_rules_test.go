package flow_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// ChangesArgs is a node that skips itself when nothing changed (kind
// "changes").
type ChangesArgs struct {
	Files int `json:"files"`
}

func (ChangesArgs) Kind() string { return "changes" }

type ChangesWorker struct {
	river.WorkerDefaults[ChangesArgs]
}

func (*ChangesWorker) Work(ctx context.Context, job *river.Job[ChangesArgs]) error {
	if job.Args.Files == 0 {
		return flow.Skip(ctx, "no files changed")
	}
	return flow.SetOutput(ctx, map[string]int{"files": job.Args.Files})
}

// Trigger rules, a condition and a node that skips itself: with nothing
// changed, the build is skipped (its parent was), deploy with it, the
// report (none_failed) still runs, and the alert (one_failed) is skipped
// because nothing failed. The run completes.
func ExampleWithTrigger() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &ChangesWorker{})
	river.AddWorker(workers, &BuildWorker{})
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("ci").Input(map[string]bool{"deploy": true})
	changes := w.Add("changes", ChangesArgs{Files: 0})
	build := w.Add("build", BuildArgs{Target: "app"}, flow.After(changes))
	deploy := w.Add("deploy", BuildArgs{Target: "deploy"}, flow.After(build), flow.WithIf("$.input.deploy == true"))
	w.Add("report", BuildArgs{Target: "report"}, flow.After(changes, build), flow.WithTrigger(flow.TriggerNoneFailed))
	w.Add("alert", BuildArgs{Target: "alert"}, flow.After(changes, build, deploy), flow.WithTrigger(flow.TriggerOneFailed))
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	nodes, err := client.Nodes(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("run", run.State)
	for _, n := range nodes {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s %s %s", n.NodeID, n.State, n.SkipReason)))
	}
	// Output:
	// run completed
	// changes skipped no files changed
	// build skipped htdag: skipped because a parent was skipped
	// deploy skipped htdag: skipped because a parent was skipped
	// report completed
	// alert skipped htdag: skipped: no parent failed (trigger one_failed)
}
