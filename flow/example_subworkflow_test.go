package flow_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/htdag/htdag/flow"
)

// A sub-workflow node runs a whole workflow as a child run, and completes
// with that run's output; the nodes after it wait for it like for any
// node. Tree lists every node of every level, depth first.
func ExampleWorkflow_AddWorkflow() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	_, stop := startWorkers(pool, buildWorkers())
	defer stop()
	client := flow.NewClient(pool, nil)

	// The child run's input is its own (without one, it would be the
	// sub-workflow node's inputs: {"input": ..., "parents": {...}}).
	tests := flow.New("tests").Input(map[string]string{"commit": "4f2a9c1"})
	unit := tests.Add("unit", BuildArgs{Target: "unit"})
	tests.Output(tests.Add("report", BuildArgs{Target: "report"}, flow.After(unit)))

	w := flow.New("release").Input(map[string]string{"commit": "4f2a9c1"})
	t := w.AddWorkflow("tests", tests)
	w.Add("release", BuildArgs{Target: "release"}, flow.After(t))

	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State)
	tree, err := client.Tree(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range tree {
		fmt.Printf("%s%s %s %s\n", strings.Repeat("  ", n.Depth), n.NodeID, n.State, n.Output)
	}
	// Output:
	// completed
	// tests completed {"uses": ["unit@4f2a9c1.tar"], "artifact": "report@4f2a9c1.tar"}
	//   unit completed {"artifact": "unit@4f2a9c1.tar"}
	//   report completed {"uses": ["unit@4f2a9c1.tar"], "artifact": "report@4f2a9c1.tar"}
	// release completed {"uses": ["report@4f2a9c1.tar"], "artifact": "release@4f2a9c1.tar"}
}
