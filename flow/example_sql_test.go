package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/htdag/htdag/flow"
)

// Starting a run from plain SQL, as an application in any language would, in
// the same transaction as its own writes: workers are woken when it commits.
func Example_startFromSQL() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	_, stop := startWorkers(pool, buildWorkers())
	defer stop()
	if _, err := pool.Exec(ctx, "CREATE TABLE uploads (name text PRIMARY KEY)"); err != nil {
		log.Fatal(err)
	}

	var runID int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO uploads (name) VALUES ('site.tar')"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT flow.start('{"name": "publish", "input": {"commit": "4f2a9c1"},
			"nodes": [{"id": "site", "kind": "build", "args": {"target": "site"}}]}')`).Scan(&runID)
	})
	if err != nil {
		log.Fatal(err)
	}

	run, err := flow.NewClient(pool, nil).Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Name, run.State, string(run.Output))
	// Output:
	// publish completed {"site": {"artifact": "site@4f2a9c1.tar"}}
}

// Starting a run with only a River client (River's insert-only clients in
// other languages do the same): a job of kind flow.start whose args are the
// spec. flow.RiverConfig registers its worker, which starts the run and
// records {"run_id": N} as the job's output.
func ExampleStartArgs() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	riverClient, stop := startWorkers(pool, buildWorkers())
	defer stop()
	completed, cancel := riverClient.Subscribe(river.EventKindJobCompleted)
	defer cancel()

	spec := []byte(`{"name": "from river", "input": {"commit": "4f2a9c1"},
		"nodes": [{"id": "lib", "kind": "build", "args": {"target": "lib"}}]}`)
	if _, err := riverClient.Insert(ctx, flow.StartArgs{Spec: spec}, nil); err != nil {
		log.Fatal(err)
	}

	var startJob *rivertype.JobRow
	for startJob == nil {
		select {
		case ev := <-completed:
			if ev.Job.Kind == flow.StartKind {
				startJob = ev.Job
			}
		case <-time.After(time.Minute):
			log.Fatal("the flow.start job did not complete")
		}
	}
	var started struct {
		RunID int64 `json:"run_id"`
	}
	if err := json.Unmarshal(startJob.Output(), &started); err != nil {
		log.Fatal(err)
	}
	run, err := flow.NewClient(pool, nil).Wait(ctx, started.RunID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Name, run.State)
	// Output:
	// from river completed
}
