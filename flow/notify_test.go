package flow_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// With River's periodic fetch pushed an hour out, a run can only make progress
// if flow.start and the release trigger wake the producers with NOTIFY. The
// run finishing within the test's deadline proves no step waited for a poll.
func TestNotifyWakesWorkersWithoutPolling(t *testing.T) {
	t.Parallel()
	b := setup(t)

	config := riverConfig(b.pool, newTestWorkers())
	config.FetchPollInterval = time.Hour
	flowtest.StartRiver(t, b.pool, config)

	// A chain of 20 started from plain SQL, as a psql user would.
	nodes := []string{`{"id": "s0", "kind": "noop"}`}
	for i := 1; i < 20; i++ {
		nodes = append(nodes, fmt.Sprintf(`{"id": "s%d", "kind": "noop", "deps": ["s%d"]}`, i, i-1))
	}
	runID := b.startSQL(t, `{"name": "chain", "nodes": [`+strings.Join(nodes, ",")+`]}`)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State, "a wake-up was lost and workers waited for the hourly poll")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Each wake-up says how many jobs its transaction has made available so far
// ("n", which a fleet reads to choose how many workers fetch): a StartMany of
// three one-root runs sends three notifications (equal payloads would
// arrive as one), and a release counts every child it makes available.
func TestNotifySaysHowManyJobsBecameAvailable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(b.ctx, `LISTEN "public.river_insert"`)
	require.NoError(t, err)
	next := func() string {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		n, err := conn.Conn().WaitForNotification(ctx)
		require.NoError(t, err)
		return n.Payload
	}

	one := flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	_, err = b.flow.StartMany(b.ctx, one, one, one)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		require.JSONEq(t, fmt.Sprintf(`{"queue": "default", "n": %d}`, i), next())
	}

	runID := b.startSQL(t, `{"nodes": [{"id": "root", "kind": "noop"},
		{"id": "c1", "kind": "noop", "deps": ["root"]}, {"id": "c2", "kind": "noop", "deps": ["root"]},
		{"id": "c3", "kind": "noop", "deps": ["root"]}]}`)
	require.JSONEq(t, `{"queue": "default", "n": 1}`, next())
	b.complete(t, runID, "root")
	require.JSONEq(t, `{"queue": "default", "n": 3}`, next(), "the release of three children")
}
