package flow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/internal/testdb"
)

type waitResult struct {
	run *flow.Run
	err error
}

// waitAsync calls c.Wait in a goroutine; its result comes on the channel.
func waitAsync(ctx context.Context, c *flow.Client, runID int64) <-chan waitResult {
	done := make(chan waitResult, 1)
	go func() {
		run, err := c.Wait(ctx, runID)
		done <- waitResult{run, err}
	}()
	return done
}

// listenQuery is what pg_stat_activity shows for the listener's connection:
// its last statement is the LISTEN (its reads go through the pool).
const listenQuery = `listen "flow_run_finished"`

// waiterClient returns a flow client on a pool of its own whose connections
// carry application_name htdag_waiter, so that pg_stat_activity tells them
// from the test's own.
func (b *testBundle) waiterClient(t *testing.T, maxConns int32) (*flow.Client, *pgxpool.Pool) {
	t.Helper()
	cfg := b.pool.Config().Copy()
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = "htdag_waiter"
	pool := b.newPoolFromConfig(t, cfg)
	return flow.NewClient(pool, nil), pool
}

// waiterBackends counts the waiter pool's server connections: all of them,
// and those whose last statement was the LISTEN.
func (b *testBundle) waiterBackends(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (all, listening int) {
	t.Helper()
	require.NoError(t, q.QueryRow(b.ctx, `
		SELECT count(*), count(*) FILTER (WHERE query = $1)
		  FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'htdag_waiter'`,
		listenQuery).Scan(&all, &listening))
	return all, listening
}

// requireListeningAndRead waits until the waiter's LISTEN is in place and
// its read of the waited runs (after the LISTEN) has returned.
func (b *testBundle) requireListeningAndRead(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		var listening, read int
		err := b.pool.QueryRow(b.ctx, `
			SELECT count(*) FILTER (WHERE query = $1),
			       count(*) FILTER (WHERE state = 'idle' AND query LIKE '%FROM flow.run WHERE id = ANY ($1)')
			  FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'htdag_waiter'`,
			listenQuery).Scan(&listening, &read)
		return err == nil && listening == 1 && read >= 1
	}, 20*time.Second, 5*time.Millisecond, "Wait never listened and read")
}

// A run that finished before Wait was called is found by Wait's first read:
// no notification will ever come for it.
func TestWaitFinishedRunReturnsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"input": 7, "nodes": [{"id": "a", "kind": "noop"}]}`)
	b.complete(t, runID, "a")

	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	run, err := b.flow.Wait(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, runID, run.ID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	require.JSONEq(t, `7`, string(run.Input))
	require.JSONEq(t, `{"a": null}`, string(run.Output))
	require.NotNil(t, run.FinishedAt)
}

func TestWaitFailedRunReturnsFailed(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	_, err := insertOnlyRiver(t, b.pool).JobCancel(b.ctx, b.jobID(t, runID, "a"))
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	require.Equal(t, 2, run.Failed)
	require.JSONEq(t, `{}`, string(run.Output))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Wait on a running run returns when the run finishes, through the
// notification sent by the transaction that finished it.
func TestWaitRunningRunReturnsWhenFinished(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	b.complete(t, runID, "a")

	waiter, _ := b.waiterClient(t, 4)
	done := waitAsync(b.ctx, waiter, runID)
	b.requireListeningAndRead(t)

	select {
	case r := <-done:
		t.Fatalf("Wait returned before the run finished: %+v, %v", r.run, r.err)
	default:
	}

	b.complete(t, runID, "b")
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, runID, r.run.ID)
	require.Equal(t, flow.RunStateCompleted, r.run.State)
	require.Zero(t, r.run.Unfinished)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// However many goroutines wait, a client holds one LISTEN connection, and
// none once they have all returned.
func TestWaitsShareOneListenConnection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const maxConns, waits = 3, 40
	waiter, _ := b.waiterClient(t, maxConns)

	runIDs := make([]int64, waits)
	results := make([]<-chan waitResult, waits)
	for i := range waits {
		runIDs[i] = b.startSQL(t, fmt.Sprintf(`{"name": "r%d", "nodes": [{"id": "a", "kind": "noop"}]}`, i))
		results[i] = waitAsync(b.ctx, waiter, runIDs[i])
	}
	require.Eventually(t, func() bool { return flow.Waiters(waiter) == waits }, 20*time.Second, 5*time.Millisecond)
	b.requireListeningAndRead(t)
	all, listening := b.waiterBackends(t, b.pool)
	require.Equal(t, 1, listening, "LISTEN connections for %d waiters", waits)
	require.LessOrEqual(t, all, maxConns+1, "the pool's connections and the listener's")

	// Finish them in reverse order; each waiter gets its own run.
	for i := waits - 1; i >= 0; i-- {
		b.complete(t, runIDs[i], "a")
	}
	for i := range waits {
		r := <-results[i]
		require.NoError(t, r.err)
		require.Equal(t, runIDs[i], r.run.ID)
		require.Equal(t, fmt.Sprintf("r%d", i), r.run.Name)
		require.Equal(t, flow.RunStateCompleted, r.run.State)
	}
	require.Eventually(t, func() bool {
		_, listening := b.waiterBackends(t, b.pool)
		return listening == 0
	}, 20*time.Second, 5*time.Millisecond, "the listener outlived its last waiter")

	// A later Wait listens again.
	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	done := waitAsync(b.ctx, waiter, runID)
	b.requireListeningAndRead(t)
	b.complete(t, runID, "a")
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, flow.RunStateCompleted, r.run.State)
}

// A run that finishes while the listener's connection is down (its
// notification goes to no one) is found when the listener is back, by the
// read of every waited run that follows each LISTEN.
func TestWaitSeesARunFinishedWhileReconnecting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	waiter, _ := b.waiterClient(t, 4)

	done := waitAsync(b.ctx, waiter, runID)
	b.requireListeningAndRead(t)

	// The database refuses new connections (set from the server's
	// maintenance database: a database cannot refuse itself); one
	// connection of the test's, opened before, does the rest.
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	admin, err := pgx.Connect(b.ctx, testdb.AdminURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	db := pgx.Identifier{b.pool.Config().ConnConfig.Database}.Sanitize()
	_, err = admin.Exec(b.ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true") })

	// Every connection of the waiter's goes, as in a database restart: the
	// listener's, and the pool's it would otherwise LISTEN on again.
	var terminated []bool
	require.NoError(t, conn.QueryRow(b.ctx, `
		SELECT array_agg(pg_terminate_backend(pid) ORDER BY query = $1 DESC) FROM pg_stat_activity
		 WHERE datname = current_database() AND application_name = 'htdag_waiter'`, listenQuery).
		Scan(&terminated))
	require.NotEmpty(t, terminated)
	require.True(t, terminated[0], "the listener's backend")
	require.Eventually(t, func() bool {
		all, _ := b.waiterBackends(t, conn)
		return all == 0
	}, 20*time.Second, 5*time.Millisecond, "the waiter's backends did not end")

	// The run finishes with no LISTEN in place: its notification is lost.
	_, err = conn.Exec(b.ctx, `
		UPDATE river_job SET state = 'completed', finalized_at = now()
		 WHERE id IN (SELECT job_id FROM flow.node WHERE run_id = $1)`, runID)
	require.NoError(t, err)
	select {
	case r := <-done:
		t.Fatalf("Wait returned while its listener was down: %+v, %v", r.run, r.err)
	default:
	}

	_, err = admin.Exec(b.ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true")
	require.NoError(t, err)
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, runID, r.run.ID)
	require.Equal(t, flow.RunStateCompleted, r.run.State)
}

// WaitMany returns every run in the order asked, once all have finished,
// however they ended.
func TestWaitMany(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spec := `{"nodes": [{"id": "a", "kind": "noop"}]}`
	early, failed, late := b.startSQL(t, spec), b.startSQL(t, spec), b.startSQL(t, spec)
	b.complete(t, early, "a")
	_, err := b.flow.Cancel(b.ctx, failed)
	require.NoError(t, err)

	done := make(chan []*flow.Run, 1)
	go func() {
		runs, err := b.flow.WaitMany(b.ctx, []int64{late, early, failed, late})
		if err != nil {
			t.Errorf("WaitMany: %v", err)
		}
		done <- runs
	}()
	// Once WaitMany waits, late finishes (if WaitMany returned before, late
	// would not be completed in its answer).
	require.Eventually(t, func() bool { return flow.Waiters(b.flow) == 1 }, 20*time.Second, 5*time.Millisecond)
	b.complete(t, late, "a")

	runs := <-done
	require.Len(t, runs, 4)
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%d %s", r.ID, r.State))
	}
	require.Equal(t, []string{
		fmt.Sprintf("%d completed", late), fmt.Sprintf("%d completed", early),
		fmt.Sprintf("%d cancelled", failed), fmt.Sprintf("%d completed", late),
	}, got)
	require.Same(t, runs[0], runs[3], "one run asked twice")

	runs, err = b.flow.WaitMany(b.ctx, nil)
	require.NoError(t, err)
	require.Empty(t, runs)

	_, err = b.flow.WaitMany(b.ctx, []int64{late, 424242})
	require.ErrorIs(t, err, flow.ErrRunNotFound)
	require.Contains(t, err.Error(), "424242")
}

func TestWaitUnknownRun(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.flow.Wait(b.ctx, 424242)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
	require.Contains(t, err.Error(), "424242")
}

// A Wait that gives up leaves the others waiting.
func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}]}`) // no workers: never finishes
	other := waitAsync(b.ctx, b.flow, runID)

	ctx, cancel := context.WithTimeout(b.ctx, 300*time.Millisecond)
	defer cancel()
	run, err := b.flow.Wait(ctx, runID)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Nil(t, run)
	require.Equal(t, flow.RunStatePending, b.getRun(t, runID).State)

	b.complete(t, runID, "a")
	r := <-other
	require.NoError(t, r.err)
	require.Equal(t, flow.RunStateCompleted, r.run.State)
}
