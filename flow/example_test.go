package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/jobs"
)

// Most examples need a PostgreSQL database migrated with River's and htdag's
// migrations (`worker migrate`), so they are compiled but not run; only
// ExampleWorkflow, which touches no database, runs.

// BuildArgs is a node that "builds" a target (kind "build").
type BuildArgs struct {
	Target string `json:"target"`
}

func (BuildArgs) Kind() string { return "build" }

// BuildOutput is what a build node outputs, for its children to read.
type BuildOutput struct {
	Artifact string `json:"artifact"`
}

// BuildWorker works "build" nodes: it reads the run input and its parents'
// outputs, records a row in the same transaction as its completion, and sets
// its own output.
type BuildWorker struct {
	river.WorkerDefaults[BuildArgs]
}

func (*BuildWorker) Work(ctx context.Context, job *river.Job[BuildArgs]) error {
	// The run input and every parent's output, in one query.
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var input struct {
		Commit string `json:"commit"`
	}
	if err := json.Unmarshal(in.Input, &input); err != nil {
		return err
	}
	for parent, raw := range in.Parents {
		var out BuildOutput
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("output of %s: %w", parent, err)
		}
		// ... link out.Artifact into this build ...
	}

	artifact := fmt.Sprintf("%s@%s.tar", job.Args.Target, input.Commit)

	// This insert commits together with the node's completion (and the
	// release of its children), or not at all.
	if err := flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO artifacts (name) VALUES ($1)", artifact)
		return err
	}); err != nil {
		return err
	}
	return flow.SetOutput(ctx, BuildOutput{Artifact: artifact})
}

// A worker process: a River client configured by flow.RiverConfig, which
// installs htdag's middleware (fast grouped completions, and the context
// that SetOutput, InTx and Inputs need).
func ExampleRiverConfig() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres:///htdag")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	workers := river.NewWorkers()
	jobs.Register(workers) // built-in kinds: noop, sleep, echo, fail
	river.AddWorker(workers, &BuildWorker{})

	client, err := river.NewClient(riverpgxv5.New(pool), flow.RiverConfig(pool, workers))
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = client.Stop(context.Background()) }()

	// ... run until told to stop ...
}

// A diamond built from River JobArgs: lib and docs both wait for fetch, and
// release waits for both.
func ExampleWorkflow() {
	w := flow.New("release").Input(map[string]string{"commit": "4f2a9c1"})
	fetch := w.Add("fetch", jobs.EchoArgs{"repo": "htdag"})
	lib := w.Add("lib", BuildArgs{Target: "lib"}, flow.After(fetch))
	docs := w.Add("docs", BuildArgs{Target: "docs"}, flow.After(fetch), flow.WithPriority(2))
	w.Add("release", BuildArgs{Target: "release"}, flow.After(lib, docs), flow.WithMaxAttempts(3))

	spec, err := w.Spec()
	if err != nil {
		log.Fatal(err) // a *flow.SpecError
	}
	// The same JSON that SELECT flow.start(spec) takes.
	for _, n := range spec.Nodes {
		b, _ := json.Marshal(n)
		fmt.Println(string(b))
	}
	// Output:
	// {"id":"fetch","kind":"echo","args":{"repo":"htdag"}}
	// {"id":"lib","kind":"build","args":{"target":"lib"},"deps":["fetch"]}
	// {"id":"docs","kind":"build","args":{"target":"docs"},"deps":["fetch"],"priority":2}
	// {"id":"release","kind":"build","args":{"target":"release"},"deps":["lib","docs"],"max_attempts":3}
}

// Starting a run inside your own transaction: the run exists, and its roots
// become runnable, only if the transaction commits.
func ExampleClient_StartTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres:///htdag")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	fc := flow.NewClient(pool, nil)

	w := flow.New("release").Input(map[string]string{"commit": "4f2a9c1"})
	lib := w.Add("lib", BuildArgs{Target: "lib"})
	w.Add("release", BuildArgs{Target: "release"}, flow.After(lib))

	var runID int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE releases SET state = 'building' WHERE commit = $1", "4f2a9c1"); err != nil {
			return err
		}
		runID, err = fc.StartTx(ctx, tx, w)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("started run", runID)
}

// Waiting for a run: Wait returns once the run is completed, failed or
// cancelled, with its output (the sink nodes' outputs by node id).
func ExampleClient_Wait() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres:///htdag")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	fc := flow.NewClient(pool, nil)

	runID, err := fc.Start(ctx, flow.JSONSpec(`{"name": "diamond", "input": {"path": "/src"}, "nodes": [
		{"id": "a", "kind": "echo"},
		{"id": "b", "kind": "echo", "deps": ["a"]},
		{"id": "c", "kind": "echo", "deps": ["a"]},
		{"id": "d", "kind": "echo", "deps": ["b", "c"]}]}`))
	if err != nil {
		log.Fatal(err) // a *flow.SpecError names a bad spec
	}

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	run, err := fc.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err) // context.DeadlineExceeded, or flow.ErrRunNotFound
	}
	fmt.Println(run.State, string(run.Output))

	// Per node: state, attempts, last error, output.
	nodes, err := fc.Nodes(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range nodes {
		fmt.Println(n.NodeID, n.State, n.Attempt, n.LastError)
	}
}

// SetOutput inside Work: children read it through Inputs.
func ExampleSetOutput() {
	work := func(ctx context.Context, job *river.Job[BuildArgs]) error {
		return flow.SetOutput(ctx, BuildOutput{Artifact: job.Args.Target + ".tar"})
	}
	_ = river.WorkFunc(work)
}

// Inputs inside Work: the run input and each parent's output by node id.
func ExampleInputs() {
	work := func(ctx context.Context, job *river.Job[BuildArgs]) error {
		in, err := flow.Inputs(ctx)
		if err != nil {
			return err // flow.ErrNotNode outside a flow node
		}
		var lib BuildOutput
		if raw, ok := in.Parents["lib"]; ok {
			if err := json.Unmarshal(raw, &lib); err != nil {
				return err
			}
		}
		return flow.SetOutput(ctx, BuildOutput{Artifact: lib.Artifact + "+" + job.Args.Target})
	}
	_ = river.WorkFunc(work)
}

// InTx inside Work: the write commits with the node's completion. If the
// function fails, nothing it wrote is kept and River retries the node.
func ExampleInTx() {
	work := func(ctx context.Context, job *river.Job[BuildArgs]) error {
		return flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "UPDATE targets SET built_at = now() WHERE name = $1", job.Args.Target)
			return err
		})
	}
	_ = river.WorkFunc(work)
}

// Resuming a failed run: fix what made a node fail, then Retry. Completed
// nodes are not run again; discarded ones get a fresh attempt budget.
func ExampleClient_Retry() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres:///htdag")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	fc := flow.NewClient(pool, nil)

	runID := int64(42) // a run that ended failed
	reset, err := fc.Retry(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	if reset == 0 {
		fmt.Println("nothing to retry: the run is not failed or cancelled")
		return
	}
	run, err := fc.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reset, "nodes reset; the run is", run.State)
}

// Starting many runs: one transaction and round trip for all of them, and an
// idempotency key so that running this twice starts each run once.
func ExampleClient_StartMany() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres:///htdag")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	fc := flow.NewClient(pool, nil)

	var specs []flow.Specifier
	for _, dir := range []string{"/src/a", "/src/b", "/src/c"} {
		w := flow.New("index " + dir).Key("index:" + dir).Input(map[string]string{"dir": dir})
		w.Add("scan", jobs.EchoArgs{"dir": dir})
		specs = append(specs, w)
	}
	ids, err := fc.StartMany(ctx, specs...)
	if err != nil {
		log.Fatal(err) // a *flow.SpecError says which spec ("spec #2: ...")
	}
	fmt.Println(ids)
}

// A hierarchical workflow: a sub-workflow node, and a map that runs a job
// per element of a parent's output array. Both run as child runs; the
// parents of "release" wait for them like for any node.
func ExampleWorkflow_AddWorkflow() {
	tests := flow.New("tests")
	unit := tests.Add("unit", BuildArgs{Target: "unit"})
	tests.Output(tests.Add("report", jobs.EchoArgs{}, flow.After(unit)))

	w := flow.New("release")
	targets := w.Add("targets", jobs.ItemsArgs{Items: []json.RawMessage{[]byte(`"linux"`), []byte(`"darwin"`)}})
	builds := w.AddMap("builds", targets, BuildArgs{}) // one "build" job per target
	t := w.AddWorkflow("tests", tests)
	w.Add("release", BuildArgs{Target: "release"}, flow.After(builds, t))

	spec, err := w.Spec()
	if err != nil {
		log.Fatal(err)
	}
	b, _ := json.MarshalIndent(spec.Nodes[1:3], "", "  ")
	fmt.Println(string(b))
	// Output:
	// [
	//   {
	//     "id": "builds",
	//     "kind": "build",
	//     "map": "targets",
	//     "args": {
	//       "target": ""
	//     }
	//   },
	//   {
	//     "id": "tests",
	//     "workflow": {
	//       "name": "tests",
	//       "nodes": [
	//         {
	//           "id": "unit",
	//           "kind": "build",
	//           "args": {
	//             "target": "unit"
	//           }
	//         },
	//         {
	//           "id": "report",
	//           "kind": "echo",
	//           "args": {},
	//           "deps": [
	//             "unit"
	//           ]
	//         }
	//       ],
	//       "output": "report"
	//     }
	//   }
	// ]
}

// ShardArgs is a node that processes a directory, splitting it into one
// child node per file when it holds several (kind "shard").
type ShardArgs struct {
	Dir   string   `json:"dir"`
	Files []string `json:"files"`
}

func (ShardArgs) Kind() string { return "shard" }

type ShardWorker struct {
	river.WorkerDefaults[ShardArgs]
}

// Work expands at run time: the node finishes only when its sub-DAG has, and
// its output is the sub-DAG's ("merge"'s output here).
func (*ShardWorker) Work(ctx context.Context, job *river.Job[ShardArgs]) error {
	if len(job.Args.Files) <= 1 {
		return flow.SetOutput(ctx, job.Args.Files)
	}
	sub := flow.New("shard " + job.Args.Dir)
	var parts []*flow.Node
	for i, f := range job.Args.Files {
		parts = append(parts, sub.Add(fmt.Sprintf("file%d", i), ShardArgs{Dir: job.Args.Dir, Files: []string{f}}))
	}
	sub.Output(sub.Add("merge", jobs.EchoArgs{}, flow.After(parts...)))
	return flow.Expand(ctx, sub)
}

func ExampleExpand() {
	workers := river.NewWorkers()
	river.AddWorker(workers, &ShardWorker{})
	jobs.Register(workers)
	// ... build the River client with flow.RiverConfig(pool, workers) ...
}
