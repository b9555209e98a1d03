package flow_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/htdag/htdag/flow"
)

// Starting a run from a spec written as JSON (a file, a request body): it
// reaches flow.start as written, so the database judges it exactly as
// `SELECT flow.start(spec)` would.
func ExampleJSONSpec() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	_, stop := startWorkers(pool, buildWorkers())
	defer stop()
	client := flow.NewClient(pool, nil)

	spec := []byte(`{
		"name": "docs only",
		"input": {"commit": "4f2a9c1"},
		"nodes": [{"id": "docs", "kind": "build", "args": {"target": "docs"}}]}`)
	runID, err := client.Start(ctx, flow.JSONSpec(spec))
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Name, run.State, string(run.Output))

	// A key that the spec format does not have is refused, by name.
	_, err = client.Start(ctx, flow.JSONSpec(`{"nodes": [{"id": "docs", "kind": "build", "retries": 3}]}`))
	var specErr *flow.SpecError
	fmt.Println(errors.As(err, &specErr), err)
	// Output:
	// docs only completed {"docs": {"artifact": "docs@4f2a9c1.tar"}}
	// true invalid workflow spec: node "docs" has unknown key "retries" (allowed: id, kind, args, deps, queue, priority, max_attempts, at, timeout_ms, workflow, map, trigger, if, wait, concurrency)
}
