package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/jobs"
)

// CallArgs is a node that calls a region's API (kind "call"); it records how
// many calls per region were in flight at once.
type CallArgs struct{}

func (CallArgs) Kind() string { return "call" }

type CallWorker struct {
	river.WorkerDefaults[CallArgs]
	mu   sync.Mutex
	now  map[string]int
	most map[string]int
}

func (w *CallWorker) Work(ctx context.Context, _ *river.Job[CallArgs]) error {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var item struct {
		Region string `json:"region"`
	}
	if err := json.Unmarshal(in.Item, &item); err != nil {
		return err
	}
	w.mu.Lock()
	w.now[item.Region]++
	w.most[item.Region] = max(w.most[item.Region], w.now[item.Region])
	w.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // the call
	w.mu.Lock()
	w.now[item.Region]--
	w.mu.Unlock()
	return nil
}

// A map over eight items whose elements share a concurrency key per region
// ("$.item.region", limit 1): however many River workers are free, at most
// one call per region is in flight at any time, across the whole fleet.
func ExampleWithConcurrency() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	calls := &CallWorker{now: map[string]int{}, most: map[string]int{}}
	workers := river.NewWorkers()
	jobs.Register(workers)
	river.AddWorker(workers, calls)
	_, stop := startWorkers(pool, workers)
	defer stop()
	client := flow.NewClient(pool, nil)

	var items []json.RawMessage
	for i := range 8 {
		items = append(items, json.RawMessage(fmt.Sprintf(`{"region": %q}`, []string{"eu", "us"}[i%2])))
	}
	w := flow.New("calls")
	list := w.Add("list", jobs.ItemsArgs{Items: items})
	w.AddMap("call", list, CallArgs{}, flow.WithConcurrency("$.item.region", 1))
	runID, err := client.Start(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("run", run.State)
	fmt.Println("most calls at once: eu", calls.most["eu"], "us", calls.most["us"])
	// Output:
	// run completed
	// most calls at once: eu 1 us 1
}
