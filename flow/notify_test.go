package flow_test

import (
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
