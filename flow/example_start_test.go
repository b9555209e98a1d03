package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/htdag/htdag/flow"
)

// Starting a run built from River JobArgs, and waiting for it: the run's
// output is its sink nodes' outputs, by node id.
func ExampleClient_Start() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	_, stop := startWorkers(pool, buildWorkers())
	defer stop()

	client := flow.NewClient(pool, nil)
	w := flow.New("release").Input(map[string]string{"commit": "4f2a9c1"})
	lib := w.Add("lib", BuildArgs{Target: "lib"})
	docs := w.Add("docs", BuildArgs{Target: "docs"}, flow.WithPriority(2))
	w.Add("release", BuildArgs{Target: "release"}, flow.After(lib, docs), flow.WithMaxAttempts(3))

	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err) // a *flow.SpecError names a bad spec
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Name, run.State)
	fmt.Println(string(run.Output))
	// Output:
	// release completed
	// {"release": {"uses": ["docs@4f2a9c1.tar", "lib@4f2a9c1.tar"], "artifact": "release@4f2a9c1.tar"}}
}

// Starting a run inside your own transaction: the run exists, and its roots
// become runnable, only if the transaction commits.
func ExampleClient_StartTx() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	_, stop := startWorkers(pool, buildWorkers())
	defer stop()
	if _, err := pool.Exec(ctx, "CREATE TABLE releases (commit text PRIMARY KEY, run_id bigint NOT NULL)"); err != nil {
		log.Fatal(err)
	}
	client := flow.NewClient(pool, nil)

	// Record the release and start its run together.
	var runID int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if runID, err = client.StartTx(ctx, tx, releaseWorkflow("4f2a9c1")); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO releases (commit, run_id) VALUES ($1, $2)", "4f2a9c1", runID)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	// A transaction that rolls back starts nothing.
	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.StartTx(ctx, tx, releaseWorkflow("77e0b3d")); err != nil {
		log.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		log.Fatal(err)
	}

	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	runs, err := client.ListRuns(ctx, "", 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Name, run.State)
	fmt.Println(len(runs), "run in all")
	// Output:
	// release 4f2a9c1 completed
	// 1 run in all
}
