package flow_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
