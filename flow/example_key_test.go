package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/htdag/htdag/flow"
)

// An idempotency key: starting again with the key of a run that has not
// finished returns that run and inserts nothing (so a retried request starts
// one run); once the run has finished, the key is free again.
func ExampleWorkflow_Key() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	client := flow.NewClient(pool, nil)
	release := func() *flow.Workflow { return releaseWorkflow("4f2a9c1").Key("release:4f2a9c1") }

	first, err := client.Start(ctx, release())
	if err != nil {
		log.Fatal(err)
	}
	again, err := client.Start(ctx, release())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same run:", again == first)

	_, stop := startWorkers(pool, buildWorkers())
	defer stop()
	if _, err := client.Wait(ctx, first); err != nil {
		log.Fatal(err)
	}
	later, err := client.Start(ctx, release())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same run once finished:", later == first)
	// Output:
	// same run: true
	// same run once finished: false
}
