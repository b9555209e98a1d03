package flow_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// Cancel stops a running node through River's cancel and cancels everything
// not yet run; the run ends cancelled.
func TestCancelRunWithRunningNode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	startRiver(t, b.pool, tw)

	w := flow.New("cancel me")
	g := w.Add("g", gateArgs{})
	c := w.Add("c", jobs.NoopArgs{}, flow.After(g))
	w.Add("d", jobs.NoopArgs{}, flow.After(c))
	w.Add("later", jobs.NoopArgs{}, flow.WithAt(time.Now().Add(time.Hour)))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return tw.gate.started.Load() == 1 }, 20*time.Second, 10*time.Millisecond,
		"the gate node never started")

	cancelled, err := b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)
	require.True(t, cancelled)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCancelled, run.State)
	require.NotNil(t, run.CancelledAt)
	require.Equal(t, map[string]string{"g": "cancelled", "c": "cancelled", "d": "cancelled", "later": "cancelled"}, b.states(t, runID))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// With nothing running, the run is cancelled in flow.cancel's own transaction,
// from SQL as from Go.
func TestCancelFromSQLWithNothingRunning(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]}]}`)

	var cancelled bool
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT flow.cancel($1)", runID).Scan(&cancelled))
	require.True(t, cancelled)
	run := b.getRun(t, runID)
	require.Equal(t, flow.RunStateCancelled, run.State)
	require.Equal(t, 2, run.Failed)
	require.Equal(t, map[string]string{"a": "cancelled", "b": "cancelled"}, b.states(t, runID))
	require.Contains(t, b.nodes(t, runID)["a"].LastError, "was cancelled")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Cancelling a finished run changes nothing and says so; an unknown run is
// an error.
func TestCancelFinishedOrUnknownRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	b.complete(t, runID, "a")
	before := b.getRun(t, runID)
	require.Equal(t, flow.RunStateCompleted, before.State)

	cancelled, err := b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)
	require.False(t, cancelled)
	require.Equal(t, before, b.getRun(t, runID))

	// From SQL, it says so.
	var notices []string
	cfg := b.pool.Config().ConnConfig.Copy()
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
	conn, err := pgx.ConnectConfig(b.ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(b.ctx)
	require.NoError(t, conn.QueryRow(b.ctx, "SELECT flow.cancel($1)", runID).Scan(&cancelled))
	require.False(t, cancelled)
	require.Equal(t, []string{fmt.Sprintf("htdag: run %d is already completed; nothing to cancel", runID)}, notices)

	_, err = b.flow.Cancel(b.ctx, 987654)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
}

// flow.cancel never waits long for a lock: when it holds one node and waits
// for another whose holder then waits for the first (a completer locking its
// batch in id order, say), cancel gives way within its lock_timeout and
// starts over. PostgreSQL never has to detect, and abort, a deadlock.
func TestCancelGivesWayInsteadOfDeadlocking(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [{"id": "low", "kind": "noop"}, {"id": "high", "kind": "noop"}]}`)
	low, high := b.jobID(t, runID, "low"), b.jobID(t, runID, "high")
	require.Less(t, low, high)
	_, err := b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(),
		attempted_by = ARRAY['test'] WHERE id = ANY ($1)`, []int64{low, high})
	require.NoError(t, err)

	deadlocks := func() int64 {
		var n int64
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n))
		return n
	}
	before := deadlocks()

	// The other transaction holds "high"; cancel locks "low", then waits.
	otherConn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer otherConn.Release()
	other, err := otherConn.Begin(b.ctx)
	require.NoError(t, err)
	defer other.Rollback(b.ctx)
	_, err = other.Exec(b.ctx, `SELECT 1 FROM river_job WHERE id = $1 FOR UPDATE`, high)
	require.NoError(t, err)

	cancelConn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer cancelConn.Release()
	var cancelPID uint32 = cancelConn.Conn().PgConn().PID()
	cancelled := make(chan error, 1)
	go func() {
		var ok bool
		cancelled <- cancelConn.QueryRow(b.ctx, `SELECT flow.cancel($1)`, runID).Scan(&ok)
	}()
	require.Eventually(t, func() bool {
		var waiting bool
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, cancelPID).Scan(&waiting))
		return waiting
	}, 20*time.Second, time.Millisecond, "flow.cancel never waited for the locked node")

	// Now the other transaction wants "low": without cancel giving way, a
	// lock cycle.
	_, err = other.Exec(b.ctx, `SELECT 1 FROM river_job WHERE id = $1 FOR UPDATE`, low)
	require.NoError(t, err, "the transaction holding a node was aborted")
	require.NoError(t, other.Commit(b.ctx))
	require.NoError(t, <-cancelled)
	var told int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM river_job WHERE id = ANY ($1) AND metadata ? 'cancel_attempted_at'`,
		[]int64{low, high}).Scan(&told))
	require.Equal(t, 2, told, "both running nodes are told to stop")

	// Both sessions report their statistics now (a deadlock is counted by
	// the session that detected it).
	for _, c := range []*pgxpool.Conn{cancelConn, otherConn} {
		for _, sql := range []string{`SELECT pg_stat_force_next_flush()`, `SELECT 1`} {
			_, err := c.Exec(b.ctx, sql)
			require.NoError(t, err)
		}
	}
	require.Equal(t, before, deadlocks(), "PostgreSQL detected a deadlock")
}
