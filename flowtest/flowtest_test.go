package flowtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/ingest"
)

// recordingTB stands in for a test under an assertion: it records the
// assertion's failures instead of failing the real test, and ends the
// assertion's goroutine on FailNow as testing.T does.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) FailNow() { runtime.Goexit() }

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.FailNow()
}

// failures runs assert against a recordingTB and returns what it reported.
func failures(t *testing.T, assert func(tb testing.TB)) string {
	t.Helper()
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert(r)
	}()
	<-done
	return strings.Join(r.errors, "\n")
}

// start starts spec with flow.start and returns the run id.
func start(t *testing.T, ctx context.Context, pool *pgxpool.Pool, spec string) int64 {
	t.Helper()
	runID, err := flow.NewClient(pool, nil).Start(ctx, flow.JSONSpec(spec))
	require.NoError(t, err)
	return runID
}

// exec runs SQL that sets up (or breaks) a test's state.
func exec(t *testing.T, ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	_, err := pool.Exec(ctx, sql, args...)
	require.NoError(t, err)
}

// completeNode marks one node completed, as River would.
func completeNode(t *testing.T, ctx context.Context, pool *pgxpool.Pool, runID int64, nodeID string) {
	t.Helper()
	exec(t, ctx, pool, `UPDATE river_job SET state = 'completed', finalized_at = now()
		WHERE id = (SELECT job_id FROM flow.node WHERE run_id = $1 AND node_id = $2)`, runID, nodeID)
}

// The invariant assertions pass on a healthy run, and each fails, saying
// what is wrong, when the invariant it checks is broken.
func TestInvariantAssertionsCatchBrokenRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const chain = `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}, {"id": "c", "kind": "noop", "deps": ["b"]}]}`

	for _, tc := range []struct {
		name  string
		check func(context.Context, testing.TB, *pgxpool.Pool, int64)
		// breakRun changes the database behind the engine's back.
		breakRun func(t *testing.T, pool *pgxpool.Pool, runID int64)
		want     string // in the failure; "" for none
	}{
		{"Healthy", flowtest.RequireInvariants, nil, ""},
		{"HealthyTree", flowtest.RequireTreeInvariants, nil, ""},
		{"HealthyTreeChecked", flowtest.RequireTreeChecked, nil, ""},
		{"Waiting", flowtest.RequireInvariants, func(t *testing.T, pool *pgxpool.Pool, runID int64) {
			exec(t, ctx, pool, `UPDATE flow.node SET waiting = 0 WHERE run_id = $1 AND node_id = 'c'`, runID)
		}, "waiting is 0 but 1 parents have not completed"},
		{"Unfinished", flowtest.RequireInvariants, func(t *testing.T, pool *pgxpool.Pool, runID int64) {
			exec(t, ctx, pool, `UPDATE flow.run SET unfinished = unfinished + 1 WHERE id = $1`, runID)
		}, "unfinished"},
		{"LostRelease", flowtest.RequireInvariants, func(t *testing.T, pool *pgxpool.Pool, runID int64) {
			exec(t, ctx, pool, `UPDATE river_job SET state = 'pending'
				WHERE id = (SELECT job_id FROM flow.node WHERE run_id = $1 AND node_id = 'b')`, runID)
		}, "lost release"},
		{"TreeSize", flowtest.RequireTreeInvariants, func(t *testing.T, pool *pgxpool.Pool, runID int64) {
			exec(t, ctx, pool, `INSERT INTO flow.tree_count (root_run_id, shard, nodes) VALUES ($1, 0, 1)`, runID)
		}, "flow.tree_size"},
		{"TreeChecked", flowtest.RequireTreeChecked, func(t *testing.T, pool *pgxpool.Pool, runID int64) {
			exec(t, ctx, pool, `UPDATE flow.run SET failed = 1 WHERE id = $1`, runID)
		}, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := flowtest.NewPool(t)
			runID := start(t, ctx, pool, chain)
			completeNode(t, ctx, pool, runID, "a")
			if tc.breakRun != nil {
				tc.breakRun(t, pool, runID)
			}
			got := failures(t, func(tb testing.TB) { tc.check(ctx, tb, pool, runID) })
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
		})
	}
}

// A child run that disagrees with the node waiting for it is caught.
func TestTreeInvariantsCatchAChildRunAtOddsWithItsNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := flowtest.NewPool(t)
	runID := start(t, ctx, pool, `{"nodes": [{"id": "s", "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}}]}`)
	require.Empty(t, failures(t, func(tb testing.TB) { flowtest.RequireTreeInvariants(ctx, tb, pool, runID) }))

	var child int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM flow.run WHERE parent_run_id = $1", runID).Scan(&child))
	exec(t, ctx, pool, `UPDATE flow.run SET state = 'cancelled', cancelled_at = now(), finished_at = now(), unfinished = 0, failed = 1
		WHERE id = $1`, child)
	require.Contains(t, failures(t, func(tb testing.TB) { flowtest.RequireTreeChecked(ctx, tb, pool, runID) }),
		fmt.Sprintf("waiting for its child run %d, which is already cancelled", child))
}

// StartRiver works a run through htdag's middleware and stops River when
// the test ends; NewPool's database is migrated and empty.
func TestStartRiverWorksARun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := flowtest.NewPool(t)
	var runs int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM flow.run").Scan(&runs))
	require.Zero(t, runs)
	require.EqualValues(t, flowtest.DefaultMaxConns, pool.Config().MaxConns)

	// With no workers: flow's own, so a flow.start job starts a run.
	client := flowtest.StartRiver(t, pool, nil)
	res, err := client.Insert(ctx, flow.StartArgs{Spec: []byte(`{"name": "started", "queue": "nobody", "nodes": [{"id": "a", "kind": "noop"}]}`)}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return pool.QueryRow(ctx, "SELECT count(*) FROM flow.run WHERE name = 'started'").Scan(&runs) == nil && runs == 1
	}, 20*time.Second, 5*time.Millisecond, "job %d started no run", res.Job.ID)
}

// CopyFixture copies a tree, contents, directories and modes, to a place
// the test may change without touching the original.
func TestCopyFixture(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("a"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub", "deeper", "run.sh"), []byte("#!/bin/sh\n"), 0o755))

	dst := flowtest.CopyFixture(t, src)
	require.NotEqual(t, src, dst)
	got, err := os.ReadFile(filepath.Join(dst, "a.txt"))
	require.NoError(t, err)
	require.Equal(t, "a", string(got))
	info, err := os.Stat(filepath.Join(dst, "sub", "deeper", "run.sh"))
	require.NoError(t, err)
	require.NotZero(t, info.Mode()&0o100, "execute permission kept")

	require.NoError(t, os.WriteFile(filepath.Join(dst, "a.txt"), []byte("changed"), 0o644))
	got, err = os.ReadFile(filepath.Join(src, "a.txt"))
	require.NoError(t, err)
	require.Equal(t, "a", string(got), "the original is untouched")
}

// An application's migration line is installed only when asked for.
func TestNewPoolWithAnApplicationsLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hasIngest := func(pool *pgxpool.Pool) bool {
		var ok bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'ingest')").Scan(&ok))
		return ok
	}
	require.False(t, hasIngest(flowtest.NewPool(t)))
	require.True(t, hasIngest(flowtest.NewPool(t, ingest.MigrationLine())))
}
