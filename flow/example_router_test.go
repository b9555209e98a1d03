package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// Past one primary: several databases, each with its own fleet, and starts
// routed by a key the application has. A run lives in its key's database
// from start to finish; keep the RunRef to find it again.
func ExampleRouter() {
	ctx := context.Background()
	east, west := examplePool(), examplePool() // pgxpool.New(ctx, url) for each database
	defer east.Close()
	defer west.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &BuildWorker{})
	_, stopEast := startWorkers(east, workers) // each database has its own fleet
	defer stopEast()
	_, stopWest := startWorkers(west, workers)
	defer stopWest()

	router, err := flow.NewRouter(flow.NewClient(east, nil), flow.NewClient(west, nil))
	if err != nil {
		log.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex", "initech"} {
		ref, err := router.Start(ctx, tenant, releaseWorkflow("4f2a9c1"))
		if err != nil {
			log.Fatal(err)
		}
		run, err := router.Wait(ctx, ref)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: database %d, %s\n", tenant, ref.Shard, run.State)
	}
	// Output:
	// acme: database 0, completed
	// globex: database 1, completed
	// initech: database 0, completed
}
