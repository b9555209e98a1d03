package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// DeployArgs is a node that deploys until its context is cancelled (kind
// "deploy").
type DeployArgs struct{}

func (DeployArgs) Kind() string { return "deploy" }

type DeployWorker struct {
	river.WorkerDefaults[DeployArgs]
	started chan struct{}
}

func (w *DeployWorker) Work(ctx context.Context, _ *river.Job[DeployArgs]) error {
	close(w.started)
	<-ctx.Done() // a long deploy; Cancel cancels this context
	return ctx.Err()
}

// Cancelling a run: nodes that have not started are cancelled at once,
// running ones through River's cancel (their context is cancelled); the run
// ends cancelled once nothing runs.
func ExampleClient_Cancel() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	deploy := &DeployWorker{started: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, deploy)
	river.AddWorker(workers, &BuildWorker{})
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("deploy")
	d := w.Add("deploy", DeployArgs{})
	w.Add("announce", BuildArgs{Target: "announcement"}, flow.After(d))
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	<-deploy.started

	cancelled, err := client.Cancel(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cancelled, run.State)
	nodes, err := client.Nodes(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range nodes {
		fmt.Println(n.NodeID, n.State)
	}

	// A finished run is not cancelled again.
	cancelled, err = client.Cancel(ctx, runID)
	fmt.Println(cancelled, err)
	// Output:
	// true cancelled
	// deploy cancelled
	// announce cancelled
	// false <nil>
}
