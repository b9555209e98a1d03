package flow_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/testdb"
	"github.com/htdag/htdag/jobs"
)

type testBundle struct {
	pool  *pgxpool.Pool
	flow  *flow.Client
	ctx   context.Context
	start func(t *testing.T) *river.Client[pgx5Tx]
}

type pgx5Tx = interface{}

func setup(t *testing.T) (*flow.Client, *pgxpool.Pool) {
	t.Helper()
	pool := testdb.New(t)
	return flow.NewClient(pool, nil), pool
}

func startWorkers(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	workers := river.NewWorkers()
	jobs.Register(workers)
	client, err := river.NewClient(riverpgxv5.New(pool), flow.RiverConfig(pool, workers))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
}

func TestDiamondSmoke(t *testing.T) {
	t.Parallel()
	fc, pool := setup(t)
	ctx := context.Background()
	startWorkers(t, pool)
	spec := `{"name": "diamond", "input": {"path": "/src"},
 "nodes": [
   {"id": "a", "kind": "echo", "args": {"x": 1}},
   {"id": "b", "kind": "echo", "deps": ["a"]},
   {"id": "c", "kind": "sleep", "args": {"ms": 10}, "deps": ["a"], "queue": "default", "priority": 1, "max_attempts": 3},
   {"id": "d", "kind": "echo", "deps": ["b", "c"]}]}`
	runID, err := fc.StartJSON(ctx, []byte(spec))
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	run, err := fc.Wait(wctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)
	var out map[string]jobs.EchoOutput
	require.NoError(t, json.Unmarshal(run.Output, &out))
	t.Logf("output: %s", run.Output)
	require.Contains(t, out["d"].Parents, "b")
	require.Contains(t, out["d"].Parents, "c")
}
