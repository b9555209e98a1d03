package jobs_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

type testBundle struct {
	ctx    context.Context
	tx     pgx.Tx
	driver *riverpgxv5.Driver
}

// setup opens a transaction on a fresh database, rolled back at the end.
// These tests work each kind outside any flow (River's test worker); the
// kinds inside runs are covered by the flow package's engine tests.
func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	pool := flowtest.NewPool(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return &testBundle{ctx: ctx, tx: tx, driver: riverpgxv5.New(pool)}
}

func TestFailFailsItsFirstAttemptsThenSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := rivertest.NewWorker(t, b.driver, &river.Config{}, &jobs.FailWorker{})

	_, err := w.Work(b.ctx, t, b.tx, jobs.FailArgs{Times: 2}, &river.InsertOpts{MaxAttempts: 5})
	require.ErrorContains(t, err, "attempt 1 of 2 planned failures")

	// The third attempt succeeds and records how many attempts it took.
	var job rivertype.JobRow
	require.NoError(t, b.tx.QueryRow(b.ctx,
		"UPDATE river_job SET attempt = 2, state = 'available' WHERE kind = 'fail' RETURNING id, args, attempt, kind, max_attempts, metadata, queue, state").
		Scan(&job.ID, &job.EncodedArgs, &job.Attempt, &job.Kind, &job.MaxAttempts, &job.Metadata, &job.Queue, &job.State))
	res, err := w.WorkJob(b.ctx, t, b.tx, &job)
	require.NoError(t, err)
	require.Equal(t, rivertype.JobStateCompleted, res.Job.State)
	var out map[string]int
	require.NoError(t, json.Unmarshal(res.Job.Output(), &out))
	require.Equal(t, 3, out["attempts"])
}

func TestSleepStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&jobs.SleepWorker{}).Work(ctx, &river.Job[jobs.SleepArgs]{Args: jobs.SleepArgs{MS: 3_600_000}})
	require.ErrorIs(t, err, context.Canceled, "an hour's sleep must end when its context is cancelled")
}

func TestEchoOutsideAFlowOutputsItsArgs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := rivertest.NewWorker(t, b.driver, &river.Config{}, &jobs.EchoWorker{})

	res, err := w.Work(b.ctx, t, b.tx, jobs.EchoArgs{"x": 1}, nil)
	require.NoError(t, err)
	require.Equal(t, rivertype.JobStateCompleted, res.Job.State)
	var out jobs.EchoOutput
	require.NoError(t, json.Unmarshal(res.Job.Output(), &out))
	require.JSONEq(t, `{"x": 1}`, string(out.Args))
	require.Empty(t, out.Parents)
}
