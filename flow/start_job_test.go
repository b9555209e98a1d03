package flow_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// insertStartJob inserts a flow.start job the way an application with only
// SQL would, and wakes the workers.
func insertStartJob(t *testing.T, b *testBundle, spec string) int64 {
	t.Helper()
	var jobID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		INSERT INTO river_job (args, kind, max_attempts, queue, state)
		VALUES ($1::jsonb, 'flow.start', 3, 'default', 'available') RETURNING id`, spec).Scan(&jobID))
	_, err := b.pool.Exec(b.ctx, `SELECT pg_notify('public.river_insert', '{"queue": "default"}')`)
	require.NoError(t, err)
	return jobID
}

// waitJobFinal waits for a job to reach a final state and returns the state,
// its output and its last error.
func waitJobFinal(t *testing.T, b *testBundle, jobID int64) (state string, output json.RawMessage, lastError string) {
	t.Helper()
	require.Eventually(t, func() bool {
		err := b.pool.QueryRow(b.ctx, `
			SELECT state::text, metadata -> 'output', coalesce(errors[array_upper(errors, 1)] ->> 'error', '')
			  FROM river_job WHERE id = $1`, jobID).Scan(&state, &output, &lastError)
		return err == nil && (state == "completed" || state == "cancelled" || state == "discarded")
	}, 20*time.Second, 5*time.Millisecond, "job %d never finished", jobID)
	return state, output, lastError
}

// A flow.start job inserted with plain SQL becomes a run.
func TestStartJobFromSQLBecomesARun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	jobID := insertStartJob(t, b, `{"name": "via river", "nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	state, output, _ := waitJobFinal(t, b, jobID)
	require.Equal(t, "completed", state)
	var out struct {
		RunID int64 `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal(output, &out))
	require.Positive(t, out.RunID)

	run := b.wait(t, out.RunID)
	require.Equal(t, "via river", run.Name)
	require.Equal(t, flow.RunStateCompleted, run.State)
	flowtest.RequireInvariants(b.ctx, t, b.pool, out.RunID)
}

// An invalid spec cancels the job with the validation error and starts no run.
func TestStartJobWithInvalidSpecIsCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	jobID := insertStartJob(t, b, `{"nodes": [{"id": "a", "kind": "noop", "deps": ["a"]}]}`)
	state, _, lastError := waitJobFinal(t, b, jobID)
	require.Equal(t, "cancelled", state)
	require.Contains(t, lastError, `invalid workflow spec: node "a" depends on itself`)
	var runs int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM flow.run").Scan(&runs))
	require.Zero(t, runs)
}

// A Go application with only a River client inserts StartArgs.
func TestStartJobFromRiverClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("from river")
	w.Add("a", jobs.NoopArgs{})
	spec, err := w.Spec()
	require.NoError(t, err)
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	res, err := insertOnlyRiver(t, b.pool).Insert(b.ctx, flow.StartArgs{Spec: raw}, nil)
	require.NoError(t, err)

	state, output, _ := waitJobFinal(t, b, res.Job.ID)
	require.Equal(t, "completed", state)
	var out struct {
		RunID int64 `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal(output, &out))
	require.Equal(t, flow.RunStateCompleted, b.wait(t, out.RunID).State)
}

// ownStartWorker stands in for an application's own flow.start worker.
type ownStartWorker struct {
	river.WorkerDefaults[flow.StartArgs]
	works atomic.Int64
}

func (w *ownStartWorker) Work(context.Context, *river.Job[flow.StartArgs]) error {
	w.works.Add(1)
	return nil
}

// flow.RiverConfig registers the flow.start worker itself, even with no
// workers given; a flow.start worker the application registered first is
// kept.
func TestRiverConfigRegistersTheStartWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	flowtest.StartRiver(t, b.pool, flowtest.RiverConfig(b.pool, nil))

	// The run's node goes to a queue no one works: only the start is tested.
	jobID := insertStartJob(t, b, `{"name": "started", "queue": "elsewhere", "nodes": [{"id": "a", "kind": "noop"}]}`)
	state, output, _ := waitJobFinal(t, b, jobID)
	require.Equal(t, "completed", state)
	var out struct {
		RunID int64 `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal(output, &out))
	require.Equal(t, "started", b.getRun(t, out.RunID).Name)

	other := setup(t)
	own := &ownStartWorker{}
	workers := river.NewWorkers()
	river.AddWorker(workers, own)
	flowtest.StartRiver(t, other.pool, flowtest.RiverConfig(other.pool, workers))
	jobID = insertStartJob(t, other, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	state, _, _ = waitJobFinal(t, other, jobID)
	require.Equal(t, "completed", state)
	require.EqualValues(t, 1, own.works.Load(), "the application's worker ran, not flow's")
	var runs int
	require.NoError(t, other.pool.QueryRow(other.ctx, "SELECT count(*) FROM flow.run").Scan(&runs))
	require.Zero(t, runs)
}
