package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// PublishArgs is a node that records a publication in the application's own
// table, in its completion transaction (kind "publish").
type PublishArgs struct {
	Name string `json:"name"`
}

func (PublishArgs) Kind() string { return "publish" }

type PublishWorker struct {
	river.WorkerDefaults[PublishArgs]
}

func (*PublishWorker) Work(ctx context.Context, job *river.Job[PublishArgs]) error {
	// ... the work itself ...
	return flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO published (name) VALUES ($1)", job.Args.Name)
		return err
	})
}

// InTx inside Work: the write commits in the same transaction as the node's
// completion (and the release of its children), or not at all; when the
// function fails, nothing it wrote is kept and River retries the node.
func ExampleInTx() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE TABLE published (name text PRIMARY KEY)"); err != nil {
		log.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &PublishWorker{})
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("publish")
	w.Add("site", PublishArgs{Name: "site"})
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.Wait(ctx, runID); err != nil {
		log.Fatal(err)
	}
	var name, state string
	err = pool.QueryRow(ctx, `
		SELECT p.name, n.state FROM published p, flow.nodes n
		 WHERE n.run_id = $1 AND n.node_id = 'site'`, runID).Scan(&name, &state)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(name, state)
	// Output:
	// site completed
}
