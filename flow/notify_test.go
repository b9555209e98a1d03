package flow_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/testdb"
	"github.com/htdag/htdag/jobs"
)

// With River's periodic fetch pushed an hour out, a run can only make progress
// if flow.start and the release trigger wake the producers with NOTIFY. The
// run finishing within the test's deadline proves no step waited for a poll.
func TestNotifyWakesWorkersWithoutPolling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)

	workers := river.NewWorkers()
	jobs.Register(workers)
	config := flow.RiverConfig(pool, workers)
	config.FetchPollInterval = time.Hour
	client, err := river.NewClient(riverpgxv5.New(pool), config)
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, client.Stop(ctx))
	})

	// A chain of 20 started from plain SQL, as a psql user would.
	nodes := []string{`{"id": "s0", "kind": "noop"}`}
	for i := 1; i < 20; i++ {
		nodes = append(nodes, fmt.Sprintf(`{"id": "s%d", "kind": "noop", "deps": ["s%d"]}`, i, i-1))
	}
	spec := `{"name": "chain", "nodes": [` + strings.Join(nodes, ",") + `]}`
	var runID int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT flow.start($1::jsonb)", spec).Scan(&runID))

	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	run, err := flow.NewClient(pool, nil).Wait(waitCtx, runID)
	require.NoError(t, err, "the chain did not finish: a wake-up was lost and workers waited for the hourly poll")
	require.Equal(t, flow.RunStateCompleted, run.State)
}
