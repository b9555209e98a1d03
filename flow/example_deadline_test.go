package flow_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// A run deadline: past Timeout the run and every run below it are
// cancelled, and the run says why. Here a deploy that never ends is stopped
// a second after the run started (without a fleet, as here, River's
// scheduler makes the deadline job due within its interval, 5 s).
func ExampleWorkflow_Timeout() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &DeployWorker{started: make(chan struct{})})
	river.AddWorker(workers, &BuildWorker{})
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("deploy").Timeout(time.Second)
	d := w.Add("deploy", DeployArgs{})
	w.Add("announce", BuildArgs{Target: "announcement"}, flow.After(d))
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State, run.TimeoutMS)
	fmt.Println(strings.Replace(run.CancelReason, fmt.Sprint(runID), "N", 1))
	nodes, err := client.Nodes(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range nodes {
		fmt.Println(n.NodeID, n.State)
	}
	// Output:
	// cancelled 1000
	// run N passed its deadline (timeout_ms 1000) and was cancelled
	// deploy cancelled
	// announce cancelled
}
