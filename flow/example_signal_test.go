package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// Approval is what a human's signal says (the payload of flow.signal).
type Approval struct {
	Approved bool   `json:"approved"`
	By       string `json:"by"`
}

// ShipArgs is a node that ships a build once it was approved (kind "ship").
type ShipArgs struct{}

func (ShipArgs) Kind() string { return "ship" }

type ShipWorker struct {
	river.WorkerDefaults[ShipArgs]
}

func (*ShipWorker) Work(ctx context.Context, _ *river.Job[ShipArgs]) error {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var approval Approval
	if err := json.Unmarshal(in.Parents["approve"], &approval); err != nil {
		return err
	}
	var build BuildOutput
	if err := json.Unmarshal(in.Parents["build"], &build); err != nil {
		return err
	}
	if !approval.Approved {
		return flow.Skip(ctx, "not approved")
	}
	return flow.SetOutput(ctx, fmt.Sprintf("shipped %s, approved by %s", build.Artifact, approval.By))
}

// A human approval: the approve node waits (no worker, no polling) until
// someone signals it, for a day at most, after which it would complete with
// {"approved": false}. The signal's payload is the node's output, which ship
// reads. A signal to a node that does not wait says why.
func ExampleClient_Signal() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	workers := buildWorkers()
	river.AddWorker(workers, &ShipWorker{})
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("release").Input(map[string]string{"commit": "4f2a9c1"})
	build := w.Add("build", BuildArgs{Target: "app"})
	approve := w.AddWait("approve", flow.Wait{Timeout: 24 * time.Hour, Default: Approval{Approved: false}})
	w.Add("ship", ShipArgs{}, flow.After(build, approve))
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}

	// approve has no parents: it waits from the start. From SQL:
	// SELECT flow.signal(run_id, 'approve', '{"approved": true, "by": "ana"}').
	if err := client.Signal(ctx, runID, "approve", Approval{Approved: true, By: "ana"}); err != nil {
		log.Fatal(err)
	}
	var notWaiting *flow.NotWaitingError
	if err := client.Signal(ctx, runID, "build", nil); errors.As(err, &notWaiting) {
		fmt.Println("build:", notWaiting.Reason)
	}

	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State, string(run.Output))
	// Output:
	// build: it is not a wait node (it is a task of kind "build")
	// completed {"ship": "shipped app@4f2a9c1.tar, approved by ana"}
}
