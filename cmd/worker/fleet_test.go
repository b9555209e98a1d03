package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/internal/pgcluster"
	"github.com/htdag/htdag/migrations"
)

// A `worker run` killed with -9 while it works a node: until another worker
// runs, `worker doctor` exits 1 naming the node and the dead worker; once one
// does, it rescues the node within seconds and the run completes, the lost
// attempt recorded and not counted against the node's budget.
func TestKilledWorkersNodeRunsAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := flowtest.NewPool(t)
	client := flow.NewClient(pool, nil)
	a := startWorker(t, pool)
	runID, err := client.Start(ctx, flow.JSONSpec(`{"nodes": [
		{"id": "s", "kind": "sleep", "args": {"ms": 1500}},
		{"id": "after", "kind": "noop", "deps": ["s"]}]}`))
	require.NoError(t, err)
	waitNodeState(t, pool, runID, "s", "running")
	workers, err := client.Workers(ctx, true)
	require.NoError(t, err)
	require.Len(t, workers, 1)
	dead := workers[0]
	require.Equal(t, a.cmd.Process.Pid, dead.PID)
	require.Equal(t, 1, dead.Running)

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	<-a.exited

	// No live worker: nobody rescues, and doctor says why the run stalls.
	res := cli(t, "", db(pool, "doctor")...)
	require.Equal(t, 1, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
	require.Regexp(t, fmt.Sprintf(`s\s+fleet\s+running on worker %d \(\S+, pid %d\), which is lost`, dead.ID, dead.PID), res.stdout)
	res = cli(t, "", db(pool, "workers")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, fmt.Sprintf(`(?m)^%d\s+lost\s+`, dead.ID), res.stdout)

	startWorker(t, pool)
	run, err := client.Wait(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)

	var (
		attempt, maxAttempts int
		lastError            string
	)
	require.NoError(t, pool.QueryRow(ctx, `SELECT attempt, max_attempts, errors[1] ->> 'error' FROM river_job
		WHERE metadata ->> 'flow_node' = 's'`).Scan(&attempt, &maxAttempts, &lastError))
	require.Equal(t, 2, attempt)
	require.Equal(t, 26, maxAttempts)
	require.Contains(t, lastError, fmt.Sprintf("htdag: worker %d (", dead.ID))
	require.Contains(t, lastError, fmt.Sprintf("pid %d) died while running this attempt", dead.PID))

	res = cli(t, "", db(pool, "workers", "--json")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var list []flow.WorkerInfo
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &list))
	states := map[int64]flow.WorkerState{}
	for _, w := range list {
		states[w.ID] = w.State
	}
	require.Equal(t, flow.WorkerStateDead, states[dead.ID])
	res = cli(t, "", db(pool, "doctor")...)
	require.Equal(t, 0, res.code, "stdout: %s", res.stdout)
}

// A second SIGTERM within a second of the first (a process group signalled,
// then each of its processes) does not skip the grace period.
func TestRunSecondSignalAtOnceKeepsTheGrace(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	w := startWorker(t, pool)
	runID, err := flow.NewClient(pool, nil).Start(context.Background(),
		flow.JSONSpec(`{"nodes": [{"id": "s", "kind": "sleep", "args": {"ms": 2000}}]}`))
	require.NoError(t, err)
	waitNodeState(t, pool, runID, "s", "running")

	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	// The second comes once the worker is shutting down (one that comes
	// before is absorbed by the first's handler), still within the second.
	require.Eventually(t, func() bool { return strings.Contains(w.logText(), "shutting down: waiting for running jobs") },
		time.Second, time.Millisecond)
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w.exited:
	case <-time.After(45 * time.Second):
		t.Fatalf("worker did not exit; logs:\n%s", w.logText())
	}
	require.NoError(t, w.waitErr, "logs:\n%s", w.logText())
	require.Contains(t, w.logText(), "signal repeated within a second of the first")
	require.NotContains(t, w.logText(), "cancelling running jobs")
	run, err := flow.NewClient(pool, nil).GetRun(context.Background(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)

	// It left the fleet: stopped, not dead.
	workers, err := flow.NewClient(pool, nil).Workers(context.Background(), false)
	require.NoError(t, err)
	require.Len(t, workers, 1)
	require.Equal(t, flow.WorkerStateStopped, workers[0].State)
	require.Equal(t, strconv.Itoa(w.cmd.Process.Pid), strconv.Itoa(workers[0].PID))
}

// A PostgreSQL restart under a running worker: the worker survives, says
// when its liveness session and River's listener are back, and a node that
// was running during the restart completes with its first attempt.
func TestRunSurvivesAPostgresRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := pgcluster.Start(t, pgcluster.Options{})
	pool := flowtest.PoolOn(t, cluster.URL(""))
	_, err := migrations.Up(ctx, pool, nil)
	require.NoError(t, err)
	w := startWorkerCmd(t, exec.Command(workerBinary(t), "--database-url", cluster.URL(""), "--max-conns", "5", "run"))
	client := flow.NewClient(pool, nil)
	runID, err := client.Start(ctx, flow.JSONSpec(`{"nodes": [{"id": "s", "kind": "sleep", "args": {"ms": 1500}},
		{"id": "after", "kind": "noop", "deps": ["s"]}]}`))
	require.NoError(t, err)
	waitNodeState(t, pool, runID, "s", "running")

	require.NoError(t, cluster.Restart("immediate"))
	run, err := client.Wait(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)
	var attempt int
	require.NoError(t, pool.QueryRow(ctx, `SELECT attempt FROM river_job WHERE metadata ->> 'flow_node' = 's'`).Scan(&attempt))
	require.Equal(t, 1, attempt, "the restart cost the node no attempt")

	require.Eventually(t, func() bool {
		logs := w.logText()
		return strings.Contains(logs, "River's listener is connected again") && strings.Contains(logs, "liveness connection back")
	}, 30*time.Second, 10*time.Millisecond, "the worker says it is connected again; logs:\n%s", w.logText())
	workers, err := client.Workers(ctx, true)
	require.NoError(t, err)
	require.Len(t, workers, 1, "still the same live worker")
	require.Equal(t, w.cmd.Process.Pid, workers[0].PID)
}

// A node whose timeout_ms is two minutes and that sleeps 90 s completes
// under a `worker run` with default flags (River's one-minute job timeout
// used to cut it). It takes 90 s: `make soak` runs it (HTDAG_LONG=1).
func TestRunNodeLongerThanAMinute(t *testing.T) {
	if os.Getenv("HTDAG_LONG") == "" {
		t.Skip("takes 90 s; make soak runs it (HTDAG_LONG=1)")
	}
	t.Parallel()
	ctx := context.Background()
	pool := flowtest.NewPool(t)
	startWorker(t, pool)
	client := flow.NewClient(pool, nil)
	runID, err := client.Start(ctx, flow.JSONSpec(`{"nodes": [{"id": "long", "kind": "sleep", "args": {"ms": 90000}, "timeout_ms": 120000}]}`))
	require.NoError(t, err)
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	run, err := client.Wait(waitCtx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)
	var attempt int
	require.NoError(t, pool.QueryRow(ctx, `SELECT attempt FROM river_job WHERE metadata ->> 'flow_node' = 'long'`).Scan(&attempt))
	require.Equal(t, 1, attempt)
}
