package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

func TestEngineChainOf50(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, mw := startRiver(t, b.pool, newTestWorkers())

	const n = 50
	w := flow.New("chain").Input(map[string]string{"k": "v"})
	var prev *flow.Node
	for i := range n {
		prev = w.Add(fmt.Sprintf("n%02d", i), jobs.EchoArgs{"i": i}, flow.After(prev))
	}
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	require.Equal(t, n, run.NodeCount)
	require.Zero(t, run.Unfinished)
	require.Zero(t, run.Failed)
	require.NotNil(t, run.StartedAt)
	require.NotNil(t, run.FinishedAt)

	nodes := b.nodes(t, runID)
	require.Len(t, nodes, n)
	for id, node := range nodes {
		require.Equal(t, "completed", node.State, id)
		require.Equal(t, 1, node.Attempt, id)
	}

	// Only the last node is a sink; it saw its parent's output.
	var out map[string]jobs.EchoOutput
	require.NoError(t, json.Unmarshal(run.Output, &out))
	require.Len(t, out, 1)
	last := out["n49"]
	require.Equal(t, "n49", last.Node)
	require.JSONEq(t, string(nodes["n48"].Output), string(last.Parents["n48"]))
	require.JSONEq(t, `{"k": "v"}`, string(last.Input))

	// Every node went through htdag's grouped completer. The run can be seen
	// finished (NOTIFY at commit) a moment before the completer has read its
	// statement's result and counted it.
	require.Eventually(t, func() bool { return mw.Stats().Completions == int64(n) }, 10*time.Second, time.Millisecond,
		"completer stats: %+v", mw.Stats())
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

func TestEngineDiamond(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	runID := b.startSQL(t, `{"name": "diamond", "input": {"path": "/src"}, "nodes": [
		{"id": "a", "kind": "echo", "args": {"x": 1}},
		{"id": "b", "kind": "echo", "args": {"side": "b"}, "deps": ["a"]},
		{"id": "c", "kind": "echo", "args": {"side": "c"}, "deps": ["a"]},
		{"id": "d", "kind": "echo", "deps": ["b", "c"]}]}`)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	require.Equal(t, "diamond", run.Name)

	nodes := b.nodes(t, runID)
	var outB, outC jobs.EchoOutput
	require.NoError(t, json.Unmarshal(nodes["b"].Output, &outB))
	require.NoError(t, json.Unmarshal(nodes["c"].Output, &outC))
	require.JSONEq(t, `{"side": "b"}`, string(outB.Args))
	require.JSONEq(t, string(nodes["a"].Output), string(outB.Parents["a"]))
	require.JSONEq(t, string(nodes["a"].Output), string(outC.Parents["a"]))

	// The run's output is its one sink, d, whose inputs were b's and c's
	// outputs and the run input.
	var out map[string]jobs.EchoOutput
	require.NoError(t, json.Unmarshal(run.Output, &out))
	require.Len(t, out, 1)
	d := out["d"]
	require.Equal(t, "d", d.Node)
	require.Len(t, d.Parents, 2)
	require.JSONEq(t, string(nodes["b"].Output), string(d.Parents["b"]))
	require.JSONEq(t, string(nodes["c"].Output), string(d.Parents["c"]))
	require.JSONEq(t, `{"path": "/src"}`, string(d.Input))
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(run.Output, &raw))
	require.JSONEq(t, string(nodes["d"].Output), string(raw["d"]))

	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// 1 -> 1000 -> 1, worked by three River clients at once, each on its own
// pool with its own htdag middleware, as three worker processes would. The
// join's parents complete concurrently in different clients' statements; the
// trigger must release it exactly once and never deadlock (the run finishing
// before the test's deadline is the proof).
func TestEngineFanOutFanInThreeClients(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers() // shared: the join's work count covers all three clients

	var mws []*flow.Middleware
	for range 3 {
		pool := b.newPool(t, 6)
		config := riverConfig(pool, tw)
		config.Queues["default"] = riverQueue(100)
		mws = append(mws, middleware(t, config))
		flowtest.StartRiver(t, pool, config)
	}

	const width = 1000
	w := flow.New("fan")
	src := w.Add("src", jobs.NoopArgs{})
	mid := make([]*flow.Node, width)
	for i := range mid {
		mid[i] = w.Add(fmt.Sprintf("m%04d", i), jobs.NoopArgs{}, flow.After(src))
	}
	w.Add("join", tallyArgs{}, flow.After(mid...))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	require.Equal(t, width+2, run.NodeCount)
	require.Zero(t, run.Unfinished)
	require.Zero(t, run.Failed)

	nodes := b.nodes(t, runID)
	require.Len(t, nodes, width+2)
	for id, node := range nodes {
		require.Equal(t, "completed", node.State, id)
		require.Equal(t, 1, node.Attempt, id)
		require.Zero(t, node.Errors, id)
	}
	require.Zero(t, nodes["join"].Waiting)
	require.EqualValues(t, 1, tw.tally.works.Load(), "the join was worked more than once")
	require.JSONEq(t, `{"works": 1}`, string(nodes["join"].Output))
	require.JSONEq(t, `{"join": {"works": 1}}`, string(run.Output))

	// The run is seen finished at commit, possibly a moment before the last
	// completer has read its statement's result and counted it.
	var total int64
	busy := 0
	require.Eventually(t, func() bool {
		total, busy = 0, 0
		for _, mw := range mws {
			s := mw.Stats()
			total += s.Completions
			if s.Completions > 0 {
				busy++
			}
		}
		return total == width+2
	}, 10*time.Second, time.Millisecond, "every node completed exactly once through a middleware")
	for i, mw := range mws {
		s := mw.Stats()
		t.Logf("client %d: %d completions in %d commits", i, s.Completions, s.Commits)
	}
	require.GreaterOrEqual(t, busy, 2, "the fan-out was worked by more than one client")

	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// River's own completer (a client without htdag's middleware) completes
// nodes with its batch statement; the trigger releases children and finishes
// the run all the same, and the sinks' outputs recorded by River become the
// run's output.
func TestCompletionByRiverBatchCompleter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiverWithoutMiddleware(t, b.pool, newTestWorkers())

	w := flow.New("river completer")
	a := w.Add("a", jobs.NoopArgs{})
	mid := make([]*flow.Node, 20)
	for i := range mid {
		mid[i] = w.Add(fmt.Sprintf("m%02d", i), jobs.SleepArgs{MS: 1}, flow.After(a))
	}
	w.Add("sink", jobs.EchoArgs{"last": true}, flow.After(mid...))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	for id, node := range b.nodes(t, runID) {
		require.Equal(t, "completed", node.State, id)
		require.Equal(t, 1, node.Attempt, id)
	}
	// Without the middleware the echo worker cannot read inputs, and its
	// output goes through river.RecordOutput.
	var out map[string]jobs.EchoOutput
	require.NoError(t, json.Unmarshal(run.Output, &out))
	require.JSONEq(t, `{"last": true}`, string(out["sink"].Args))
	require.Empty(t, out["sink"].Node)

	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A psql user completing jobs by hand releases children exactly as workers
// do, and repeating a completion changes nothing.
func TestCompletionByManualUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t) // no workers

	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]},
		{"id": "c", "kind": "noop", "deps": ["a"]},
		{"id": "d", "kind": "noop", "deps": ["b", "c"]}]}`)

	b.complete(t, runID, "a")
	require.Equal(t, map[string]string{"a": "completed", "b": "available", "c": "available", "d": "pending"}, b.states(t, runID))
	require.Equal(t, 2, b.nodes(t, runID)["d"].Waiting)
	run := b.getRun(t, runID)
	require.Equal(t, flow.RunStateRunning, run.State)
	require.Equal(t, 3, run.Unfinished)
	require.NotNil(t, run.StartedAt)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	b.complete(t, runID, "a") // completed -> completed
	require.Equal(t, map[string]string{"a": "completed", "b": "available", "c": "available", "d": "pending"}, b.states(t, runID))
	again := b.getRun(t, runID)
	require.Equal(t, run.Unfinished, again.Unfinished)
	require.Equal(t, run.Failed, again.Failed)
	require.Equal(t, run.State, again.State)
	nodes := b.nodes(t, runID)
	require.Zero(t, nodes["b"].Waiting)
	require.Zero(t, nodes["c"].Waiting)
	require.Equal(t, 2, nodes["d"].Waiting)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	// Both parents of d in one statement.
	b.completeTogether(t, runID, "b", "c")
	require.Equal(t, "available", b.states(t, runID)["d"])
	require.Equal(t, 1, b.getRun(t, runID).Unfinished)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	b.complete(t, runID, "d")
	run = b.getRun(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	require.Zero(t, run.Unfinished)
	require.NotNil(t, run.FinishedAt)
	require.JSONEq(t, `{"d": null}`, string(run.Output))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A node's InTx write commits in the same transaction as its completion.
func TestInTxWriteCommitsWithCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, intxLogDDL)
	require.NoError(t, err)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("intx")
	x := w.Add("x", intxArgs{})
	w.Add("after", jobs.NoopArgs{}, flow.After(x))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)

	var jobID int64
	var attempt int
	var sameTx bool
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT l.job_id, l.attempt, (l.txid % 4294967296)::text = j.xmin::text
		  FROM intx_log l JOIN river_job j ON j.id = l.job_id`).Scan(&jobID, &attempt, &sameTx))
	require.Equal(t, b.jobID(t, runID, "x"), jobID)
	require.Equal(t, 1, attempt)
	require.True(t, sameTx, "the InTx write and the node's completion were committed by different transactions")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A failing InTx function rolls back its write and fails the attempt; River
// retries and the next attempt's write commits with the completion.
func TestInTxErrorRollsBackAndRetries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, intxLogDDL)
	require.NoError(t, err)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("intx retry")
	x := w.Add("x", intxArgs{Fail: 1}, flow.WithMaxAttempts(3))
	ok := w.Add("ok", intxArgs{}) // shares the grouped completer; its write must survive
	w.Add("after", jobs.NoopArgs{}, flow.After(x, ok))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)

	rows, err := b.pool.Query(b.ctx, "SELECT node, attempt FROM intx_log ORDER BY node, attempt")
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var node string
		var attempt int
		require.NoError(t, rows.Scan(&node, &attempt))
		got = append(got, fmt.Sprintf("%s@%d", node, attempt))
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"ok@1", "x@2"}, got, "attempt 1 of x must leave no row")

	x2 := b.nodes(t, runID)["x"]
	require.Equal(t, "completed", x2.State)
	require.Equal(t, 2, x2.Attempt)
	require.Equal(t, 1, x2.Errors)
	require.Contains(t, x2.LastError, `node "x": completion transaction`)
	require.Contains(t, x2.LastError, errIntx.Error())
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// rescuedArgs is a node whose job stops being 'running' while it works, as
// when River's rescuer takes back a job it believes stuck, or an operator
// changes its state (kind "rescued"). Its InTx write must then not commit:
// the node was not completed, and it will run again.
type rescuedArgs struct{}

func (rescuedArgs) Kind() string { return "rescued" }

type rescuedWorker struct {
	river.WorkerDefaults[rescuedArgs]
	pool *pgxpool.Pool
}

func (w *rescuedWorker) Work(ctx context.Context, job *river.Job[rescuedArgs]) error {
	if err := flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO intx_log (job_id, node, attempt) VALUES ($1, 'rescued', $2)", job.ID, job.Attempt)
		return err
	}); err != nil {
		return err
	}
	// What River's rescuer does to a stuck job (retry it in an hour).
	_, err := w.pool.Exec(ctx, `UPDATE river_job SET state = 'retryable', scheduled_at = now() + interval '1 hour'
		WHERE id = $1 AND state = 'running'`, job.ID)
	return err
}

// InTx writes commit together with the node's completion or not at all: when
// the job is no longer running at completion time, nothing is completed and
// the write must not commit either.
func TestInTxWriteNotCommittedWhenJobNoLongerRunning(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, intxLogDDL)
	require.NoError(t, err)

	workers := newRiverWorkers(newTestWorkers())
	river.AddWorker(workers, &rescuedWorker{pool: b.pool})
	config := flowtest.RiverConfig(b.pool, workers)
	mw := middleware(t, config)
	flowtest.StartRiver(t, b.pool, config)

	w := flow.New("rescued")
	x := w.Add("x", rescuedArgs{})
	w.Add("after", jobs.NoopArgs{}, flow.After(x))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	require.Eventually(t, func() bool { return mw.Stats().Failures == 1 }, 20*time.Second, 5*time.Millisecond,
		"the middleware never tried to complete x")

	var rows int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM intx_log").Scan(&rows))
	require.Zero(t, rows, "x's InTx write committed although x was not completed")
	require.Equal(t, map[string]string{"x": "retryable", "after": "pending"}, b.states(t, runID))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Nodes may be listed before the nodes they depend on, so job ids need not
// follow the DAG's order.
func TestEngineSpecOrderNotTopological(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [
		{"id": "d", "kind": "echo", "deps": ["b", "c"]},
		{"id": "c", "kind": "echo", "deps": ["a"]},
		{"id": "b", "kind": "echo", "deps": ["a"]},
		{"id": "a", "kind": "echo"}]}`)
	// Read the states before any worker runs: a worker would race the read.
	require.Equal(t, map[string]string{"a": "available", "b": "pending", "c": "pending", "d": "pending"}, b.states(t, runID))
	startRiver(t, b.pool, newTestWorkers())

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	var out map[string]jobs.EchoOutput
	require.NoError(t, json.Unmarshal(run.Output, &out))
	require.Len(t, out["d"].Parents, 2)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A dependency listed twice is one edge: the child waits for it once.
func TestStartDuplicateDepIsOneEdge(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a", "a"]}]}`)
	require.Equal(t, 1, b.nodes(t, runID)["b"].Waiting)

	b.complete(t, runID, "a")
	require.Equal(t, "available", b.states(t, runID)["b"])
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A released child whose "at" is still ahead becomes scheduled, not
// available; one whose "at" has passed becomes available.
func TestReleaseRespectsAt(t *testing.T) {
	t.Parallel()
	b := setup(t) // no workers

	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	runID := b.startSQL(t, fmt.Sprintf(`{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "later", "kind": "noop", "deps": ["a"], "at": %q},
		{"id": "now", "kind": "noop", "deps": ["a"], "at": %q},
		{"id": "root-later", "kind": "noop", "at": %q}]}`, future, past, future))
	require.Equal(t, map[string]string{"a": "available", "later": "pending", "now": "pending", "root-later": "scheduled"},
		b.states(t, runID))

	b.complete(t, runID, "a")
	require.Equal(t, map[string]string{"a": "completed", "later": "scheduled", "now": "available", "root-later": "scheduled"},
		b.states(t, runID))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Many runs worked at once: grouped completions then complete nodes of
// several runs in one statement, and each run must still be released and
// counted on its own.
func TestEngineManyRunsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, mw := startRiver(t, b.pool, newTestWorkers())

	const runs = 20
	runIDs := make([]int64, runs)
	err := pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		for i := range runIDs {
			w := flow.New(fmt.Sprintf("run%02d", i)).Input(i)
			a := w.Add("a", jobs.EchoArgs{})
			mid := make([]*flow.Node, 10)
			for j := range mid {
				mid[j] = w.Add(fmt.Sprintf("m%d", j), jobs.EchoArgs{"j": j}, flow.After(a))
			}
			w.Add("z", jobs.EchoArgs{}, flow.After(mid...))
			var err error
			if runIDs[i], err = b.flow.StartTx(b.ctx, tx, w); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)

	for i, runID := range runIDs {
		run := b.wait(t, runID)
		require.Equal(t, flow.RunStateCompleted, run.State, "run %d", i)
		var out map[string]jobs.EchoOutput
		require.NoError(t, json.Unmarshal(run.Output, &out))
		require.JSONEq(t, fmt.Sprint(i), string(out["z"].Input), "run %d saw another run's input", i)
		require.Len(t, out["z"].Parents, 10)
		flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
	}
	require.Eventually(t, func() bool { return mw.Stats().Completions == runs*12 }, 10*time.Second, time.Millisecond,
		"completer stats: %+v", mw.Stats())
	s := mw.Stats()
	t.Logf("%d completions in %d commits", s.Completions, s.Commits)
}
