package flow_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// UploadArgs is a node that uploads an artifact (kind "upload").
type UploadArgs struct{}

func (UploadArgs) Kind() string { return "upload" }

type UploadWorker struct {
	river.WorkerDefaults[UploadArgs]
	uploads atomic.Int64
	broken  atomic.Bool
}

func (w *UploadWorker) Work(ctx context.Context, _ *river.Job[UploadArgs]) error {
	if w.broken.Load() {
		return errors.New("upload: bucket not found")
	}
	return flow.SetOutput(ctx, map[string]int64{"upload": w.uploads.Add(1)})
}

// Resuming a failed run: fix what made a node fail, then Retry. Completed
// nodes are not run again; failed ones get a fresh attempt budget.
func ExampleClient_Retry() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	upload := &UploadWorker{}
	upload.broken.Store(true)
	workers := river.NewWorkers()
	river.AddWorker(workers, &BuildWorker{})
	river.AddWorker(workers, upload)
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	w := flow.New("ship").Input(map[string]string{"commit": "4f2a9c1"})
	lib := w.Add("lib", BuildArgs{Target: "lib"})
	w.Add("upload", UploadArgs{}, flow.After(lib), flow.WithMaxAttempts(1))
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	nodes, err := client.Nodes(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State, nodes[1].State, nodes[1].LastError)

	upload.broken.Store(false) // the bucket is back
	reset, err := client.Retry(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	run, err = client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reset, "node reset;", run.State, string(run.Output))
	// Output:
	// failed discarded upload: bucket not found
	// 1 node reset; completed {"upload": {"upload": 1}}
}
