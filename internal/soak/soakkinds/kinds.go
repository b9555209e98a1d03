// Package soakkinds holds the node kinds the soak runs (internal/soak): each
// step records every attempt it starts, sleeps, and writes one effect row in
// its completion transaction (flow.InTx), so that the soak can count lost,
// duplicated and phantom effects and early starts afterwards. They are built
// into the worker binary only with the build tag "soak".
package soakkinds

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/htdag/htdag/flow"
)

// SchemaSQL creates the tables the kinds write to.
const SchemaSQL = `
CREATE SCHEMA IF NOT EXISTS soak;
-- Every attempt a step started, written at once (not in the completion): an
-- attempt lost with its worker is here too.
CREATE TABLE IF NOT EXISTS soak.attempt (
    job_id     bigint      NOT NULL,
    attempt    integer     NOT NULL,
    pid        integer     NOT NULL, -- the worker process
    started_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- One row per completed step, written in its completion transaction: the
-- primary key refuses a second one, and early_parents counts parents that
-- had not completed when the step completed (must be 0).
CREATE TABLE IF NOT EXISTS soak.effect (
    run_id        bigint      NOT NULL,
    node_id       text        NOT NULL,
    job_id        bigint      NOT NULL,
    attempt       integer     NOT NULL,
    early_parents integer     NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, node_id)
);`

// StepArgs is a step (kind "soak.step"): it sleeps SleepMS (a node in flight
// when its worker is killed), then commits its effect with its completion.
type StepArgs struct {
	SleepMS int `json:"sleep_ms"`
}

// Kind implements river.JobArgs.
func (StepArgs) Kind() string { return "soak.step" }

// ItemsArgs (kind "soak.items") outputs [0, 1, ..., N-1], for maps.
type ItemsArgs struct {
	N int `json:"n"`
}

// Kind implements river.JobArgs.
func (ItemsArgs) Kind() string { return "soak.items" }

// ExpandArgs (kind "soak.expand") expands into Width steps and a join; each
// step is itself an expansion while Depth > 1.
type ExpandArgs struct {
	Width   int `json:"width"`
	Depth   int `json:"depth"`
	SleepMS int `json:"sleep_ms"`
}

// Kind implements river.JobArgs.
func (ExpandArgs) Kind() string { return "soak.expand" }

// Register adds the soak kinds to workers; they write through pool.
func Register(workers *river.Workers, pool *pgxpool.Pool) {
	river.AddWorker(workers, &stepWorker{pool: pool})
	river.AddWorker(workers, &itemsWorker{pool: pool})
	river.AddWorker(workers, &expandWorker{pool: pool})
}

// Kinds lists the soak kinds.
func Kinds() []string {
	return []string{StepArgs{}.Kind(), ItemsArgs{}.Kind(), ExpandArgs{}.Kind()}
}

type stepWorker struct {
	river.WorkerDefaults[StepArgs]
	pool *pgxpool.Pool
}

// NextRetry: a failed attempt (a PostgreSQL restart cut it) runs again at
// once, so that the soak measures recovery, not River's backoff.
func (*stepWorker) NextRetry(*river.Job[StepArgs]) time.Time { return time.Now() }

// recordAttempt writes the attempt's start at once, in its own transaction.
func recordAttempt(ctx context.Context, pool *pgxpool.Pool, job *rivertype.JobRow) error {
	if _, err := pool.Exec(ctx, "INSERT INTO soak.attempt (job_id, attempt, pid) VALUES ($1, $2, $3)",
		job.ID, job.Attempt, os.Getpid()); err != nil {
		return fmt.Errorf("recording the attempt: %w", err)
	}
	return nil
}

func (w *stepWorker) Work(ctx context.Context, job *river.Job[StepArgs]) error {
	if err := recordAttempt(ctx, w.pool, job.JobRow); err != nil {
		return err
	}
	select {
	case <-time.After(time.Duration(job.Args.SleepMS) * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	runID, _ := flow.RunID(ctx)
	nodeID, _ := flow.NodeID(ctx)
	return flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO soak.effect (run_id, node_id, job_id, attempt, early_parents)
			SELECT $1, $2, $3, $4,
			       (SELECT count(*) FROM flow.node n JOIN public.river_job p ON p.id = ANY (n.parents)
			         WHERE n.job_id = $3 AND p.state <> 'completed')`,
			runID, nodeID, job.ID, job.Attempt)
		return err
	})
}

type itemsWorker struct {
	river.WorkerDefaults[ItemsArgs]
	pool *pgxpool.Pool
}

func (*itemsWorker) NextRetry(*river.Job[ItemsArgs]) time.Time { return time.Now() }

func (w *itemsWorker) Work(ctx context.Context, job *river.Job[ItemsArgs]) error {
	if err := recordAttempt(ctx, w.pool, job.JobRow); err != nil {
		return err
	}
	items := make([]int, job.Args.N)
	for i := range items {
		items[i] = i
	}
	return flow.SetOutput(ctx, items)
}

type expandWorker struct {
	river.WorkerDefaults[ExpandArgs]
	pool *pgxpool.Pool
}

func (*expandWorker) NextRetry(*river.Job[ExpandArgs]) time.Time { return time.Now() }

func (w *expandWorker) Work(ctx context.Context, job *river.Job[ExpandArgs]) error {
	if err := recordAttempt(ctx, w.pool, job.JobRow); err != nil {
		return err
	}
	a := job.Args
	nodes := make([]map[string]any, 0, a.Width+1)
	deps := make([]string, 0, a.Width)
	for i := range a.Width {
		id := fmt.Sprintf("s%d", i)
		deps = append(deps, id)
		if a.Depth > 1 {
			nodes = append(nodes, map[string]any{"id": id, "kind": ExpandArgs{}.Kind(),
				"args": ExpandArgs{Width: a.Width, Depth: a.Depth - 1, SleepMS: a.SleepMS}})
		} else {
			nodes = append(nodes, map[string]any{"id": id, "kind": StepArgs{}.Kind(), "args": StepArgs{SleepMS: a.SleepMS}})
		}
	}
	nodes = append(nodes, map[string]any{"id": "join", "kind": StepArgs{}.Kind(), "args": StepArgs{}, "deps": deps})
	spec, err := json.Marshal(map[string]any{"nodes": nodes})
	if err != nil {
		return err
	}
	return flow.Expand(ctx, flow.JSONSpec(spec))
}
