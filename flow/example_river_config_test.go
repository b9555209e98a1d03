package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/htdag/htdag/flow"
)

// A worker process: a River client configured by flow.RiverConfig, which
// installs htdag's middleware (fast grouped completions, and the context
// that SetOutput, InTx and Inputs need), htdag's fetch settings and the
// worker of flow.start jobs. Any number of such processes can share a
// database.
func ExampleRiverConfig() {
	ctx := context.Background()
	pool := examplePool() // pgxpool.New(ctx, databaseURL) in an application
	defer pool.Close()

	workers := river.NewWorkers()
	river.AddWorker(workers, &BuildWorker{})
	config := flow.RiverConfig(pool, workers)
	config.Queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: 50}
	riverClient, err := river.NewClient(riverpgxv5.New(pool), config)
	if err != nil {
		log.Fatal(err)
	}
	if err := riverClient.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := riverClient.Stop(ctx); err != nil {
			log.Fatal(err)
		}
	}()

	client := flow.NewClient(pool, nil)
	runID, err := client.Start(ctx, releaseWorkflow("4f2a9c1"))
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State)
	// Output:
	// completed
}
