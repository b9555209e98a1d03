package flow_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/htdag/htdag/flow"
)

// Waiting for many runs at once, started together: StartMany starts them in
// one transaction and round trip, WaitMany returns them in the same order
// once every one has finished.
func ExampleClient_WaitMany() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	_, stop := startWorkers(pool, buildWorkers())
	defer stop()
	client := flow.NewClient(pool, nil)

	var specs []flow.Specifier
	for _, commit := range []string{"4f2a9c1", "77e0b3d", "a01c5f2"} {
		specs = append(specs, releaseWorkflow(commit))
	}
	ids, err := client.StartMany(ctx, specs...)
	if err != nil {
		log.Fatal(err) // a *flow.SpecError says which spec ("spec #2: ...")
	}
	runs, err := client.WaitMany(ctx, ids)
	if err != nil {
		log.Fatal(err)
	}
	for _, run := range runs {
		fmt.Println(run.Name, run.State)
	}
	// Output:
	// release 4f2a9c1 completed
	// release 77e0b3d completed
	// release a01c5f2 completed
}

// Wait returns when the run has finished, or with the context's error: a
// deadline bounds the wait.
func ExampleClient_Wait() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	client := flow.NewClient(pool, nil) // and no worker: the run cannot finish

	runID, err := client.Start(ctx, releaseWorkflow("4f2a9c1"))
	if err != nil {
		log.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = client.Wait(waitCtx, runID)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))

	_, err = client.Wait(ctx, runID+1)
	fmt.Println(errors.Is(err, flow.ErrRunNotFound))
	// Output:
	// true
	// true
}
