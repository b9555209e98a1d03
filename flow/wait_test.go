package flow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

type waitResult struct {
	run *flow.Run
	err error
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
	assertInvariants(t, b.ctx, b.pool, runID)
}

// Wait on a running run returns when the run finishes, through the
// notification sent by the transaction that finished it.
func TestWaitRunningRunReturnsWhenFinished(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	b.complete(t, runID, "a")

	// The waiter gets a pool of its own, tagged, to see when it listens.
	cfg := b.pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["application_name"] = "htdag_waiter"
	waiterPool := b.newPoolFromConfig(t, cfg)
	waiter := flow.NewClient(waiterPool, nil)

	done := make(chan waitResult, 1)
	go func() {
		run, err := waiter.Wait(b.ctx, runID)
		done <- waitResult{run, err}
	}()

	// Once Wait has listened and read the unfinished run, its connection
	// sits idle after that read.
	require.Eventually(t, func() bool {
		var n int
		err := b.pool.QueryRow(b.ctx, `
			SELECT count(*) FROM pg_stat_activity
			 WHERE datname = current_database() AND application_name = 'htdag_waiter'
			   AND state = 'idle' AND query LIKE '%FROM flow.run WHERE id = $1'`).Scan(&n)
		return err == nil && n == 1
	}, 20*time.Second, 5*time.Millisecond, "Wait never listened")

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
	assertInvariants(t, b.ctx, b.pool, runID)
}

// Several Waits at once each get their own run.
func TestWaitConcurrentWaitsGetTheirOwnRun(t *testing.T) {
	t.Parallel()
	b := setup(t)

	const n = 5
	runIDs := make([]int64, n)
	results := make([]chan waitResult, n)
	for i := range n {
		runIDs[i] = b.startSQL(t, fmt.Sprintf(`{"name": "r%d", "nodes": [{"id": "a", "kind": "noop"}]}`, i))
		results[i] = make(chan waitResult, 1)
		go func() {
			run, err := b.flow.Wait(b.ctx, runIDs[i])
			results[i] <- waitResult{run, err}
		}()
	}
	for i := n - 1; i >= 0; i-- {
		b.complete(t, runIDs[i], "a")
	}
	for i := range n {
		r := <-results[i]
		require.NoError(t, r.err)
		require.Equal(t, runIDs[i], r.run.ID)
		require.Equal(t, fmt.Sprintf("r%d", i), r.run.Name)
		require.Equal(t, flow.RunStateCompleted, r.run.State)
	}
}

func TestWaitUnknownRun(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.flow.Wait(b.ctx, 424242)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
	require.Contains(t, err.Error(), "424242")
}

func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}]}`) // no workers: never finishes
	ctx, cancel := context.WithTimeout(b.ctx, 300*time.Millisecond)
	defer cancel()
	run, err := b.flow.Wait(ctx, runID)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Nil(t, run)
	require.Equal(t, flow.RunStatePending, b.getRun(t, runID).State)
}
