package flow_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// slotRunning is flow.concurrency_slot's count for key (0 without a row).
func (b *testBundle) slotRunning(t *testing.T, key string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx,
		"SELECT coalesce((SELECT running FROM flow.concurrency_slot WHERE key = $1), 0)", key).Scan(&n))
	return n
}

// slotWaiters are the node ids of a run waiting for a slot, as flow.blocked
// shows them, with the key each waits for.
func (b *testBundle) slotWaiters(t *testing.T, runID int64) map[string]string {
	t.Helper()
	rows, err := b.pool.Query(b.ctx,
		"SELECT node_id, waiting_for_slot FROM flow.blocked WHERE run_id = $1 AND waiting_for_slot IS NOT NULL", runID)
	require.NoError(t, err)
	out := map[string]string{}
	for rows.Next() {
		var id, key string
		require.NoError(t, rows.Scan(&id, &key))
		out[id] = key
	}
	require.NoError(t, rows.Err())
	return out
}

// requireNoBrokenInvariants asserts that flow.check finds nothing that
// breaks the engine's invariants in run runID (0: every unfinished run and
// every concurrency key's count).
func (b *testBundle) requireNoBrokenInvariants(t *testing.T, runID int64) {
	t.Helper()
	problems, err := b.flow.Check(b.ctx, runID)
	require.NoError(t, err)
	for _, p := range problems {
		require.False(t, p.Category.Invariant(), "flow.check: %+v", p)
	}
}

// setNodeState changes a node's job state by hand, as River would.
func (b *testBundle) setNodeState(t *testing.T, runID int64, nodeID, state string) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, `
		UPDATE river_job SET state = $3::river_job_state,
		       attempt = CASE WHEN $3 = 'running' THEN attempt + 1 ELSE attempt END,
		       attempted_at = CASE WHEN $3 = 'running' THEN now() ELSE attempted_at END,
		       finalized_at = CASE WHEN $3 IN ('completed', 'cancelled', 'discarded') THEN now() END
		 WHERE id = (SELECT job_id FROM flow.node WHERE run_id = $1 AND node_id = $2)`, runID, nodeID, state)
	require.NoError(t, err)
}

// maxOverlap is the most jobs of a key whose [attempted_at, finalized_at)
// intervals overlap, read from River's own timestamps of the finished jobs.
func (b *testBundle) maxOverlap(t *testing.T, key string) int {
	t.Helper()
	type event struct {
		at    time.Time
		delta int
	}
	rows, err := b.pool.Query(b.ctx, `
		SELECT j.attempted_at, j.finalized_at
		  FROM flow.node n JOIN river_job j ON j.id = n.job_id
		 WHERE n.concurrency_key = $1 AND j.state = 'completed'`, key)
	require.NoError(t, err)
	var events []event
	for rows.Next() {
		var start, end time.Time
		require.NoError(t, rows.Scan(&start, &end))
		require.False(t, end.Before(start))
		events = append(events, event{start, 1}, event{end, -1})
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, events)
	sort.Slice(events, func(i, j int) bool {
		if events[i].at.Equal(events[j].at) {
			return events[i].delta < events[j].delta // an end before a start at the same instant
		}
		return events[i].at.Before(events[j].at)
	})
	most, now := 0, 0
	for _, e := range events {
		now += e.delta
		most = max(most, now)
	}
	return most
}

// Three keys with a limit of 2 each, 50 nodes of 100 ms per key, worked by
// three River clients (separate pools, 50 workers each): River's own
// timestamps show at most 2 nodes of a key running at once, every node
// completes, and the keys' counts are back to 0.
func TestConcurrencyKeysCapRunningNodesAcrossClients(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	for range 3 {
		pool := b.newPool(t, 10)
		config := riverConfig(pool, tw)
		config.Queues = map[string]river.QueueConfig{river.QueueDefault: riverQueue(50)}
		flowtest.StartRiver(t, pool, config)
	}

	keys := []string{"tenant-a", "tenant-b", "tenant-c"}
	var runs []int64
	for _, key := range keys {
		w := flow.New(key).Input(map[string]string{"tenant": key}).Concurrency("$.input.tenant", 2)
		for i := range 50 {
			w.Add(fmt.Sprintf("n%d", i), jobs.SleepArgs{MS: 100})
		}
		runID, err := b.flow.Start(b.ctx, w)
		require.NoError(t, err)
		runs = append(runs, runID)
	}
	for _, runID := range runs {
		require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
		flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
	}
	for _, key := range keys {
		require.LessOrEqual(t, b.maxOverlap(t, key), 2, "key %s", key)
		require.Zero(t, b.slotRunning(t, key), "key %s", key)
	}
	// Fair: each key had its own two slots, so the three finish together,
	// within 20% of each other (from River's timestamps, counted from the
	// first start).
	var spans []float64
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT array_agg(extract(epoch FROM k.last - s.first)::float8 ORDER BY k.key)
		  FROM (SELECT n.concurrency_key AS key, max(j.finalized_at) AS last
		          FROM flow.node n JOIN river_job j ON j.id = n.job_id GROUP BY n.concurrency_key) k,
		       (SELECT min(j.attempted_at) AS first FROM river_job j) s`).Scan(&spans))
	require.Len(t, spans, 3)
	require.LessOrEqual(t, slices.Max(spans), 1.2*slices.Min(spans), "keys finished after %v s", spans)
	var waiting int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM flow.concurrency_wait").Scan(&waiting))
	require.Zero(t, waiting)
}

// A key with a large backlog does not hold up another key: a 5-node run of
// its own key completes while the big key still has most of its 10,000 nodes
// waiting for a slot. Cancelling the big run then leaves no slot taken and
// nothing queued.
func TestConcurrencyBacklogOfOneKeyDoesNotBlockAnother(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	config := riverConfig(b.pool, tw)
	config.Queues = map[string]river.QueueConfig{river.QueueDefault: riverQueue(20)}
	flowtest.StartRiver(t, b.pool, config)

	const backlog = 10000
	big := flow.New("big").Concurrency("big", 2)
	for i := range backlog {
		big.Add(fmt.Sprintf("n%d", i), jobs.SleepArgs{MS: 100})
	}
	bigRun, err := b.flow.Start(b.ctx, big)
	require.NoError(t, err)

	small := flow.New("small")
	for i := range 5 {
		small.Add(fmt.Sprintf("s%d", i), jobs.SleepArgs{MS: 100}, flow.WithConcurrency("small", 2))
	}
	smallRun, err := b.flow.Start(b.ctx, small)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, smallRun).State)

	var pending int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM flow.node n JOIN river_job j ON j.id = n.job_id
		 WHERE n.run_id = $1 AND j.state = 'pending'`, bigRun).Scan(&pending))
	require.Greater(t, pending, backlog*9/10, "the big key still has most of its backlog waiting")
	require.LessOrEqual(t, b.slotRunning(t, "big"), 2)

	_, err = b.flow.Cancel(b.ctx, bigRun)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCancelled, b.wait(t, bigRun).State)
	require.Zero(t, b.slotRunning(t, "big"))
	require.Zero(t, b.slotRunning(t, "small"))
	require.Empty(t, b.slotWaiters(t, bigRun))
	flowtest.RequireInvariants(b.ctx, t, b.pool, bigRun)
	flowtest.RequireInvariants(b.ctx, t, b.pool, smallRun)
	require.LessOrEqual(t, b.maxOverlap(t, "small"), 2)
}

// A key's slot through every way a node finishes, by hand and without River:
// a retrying node keeps its slot, a completed or discarded one gives it to
// the oldest waiting node, cancel empties the queue and gives the slots back,
// flow.retry queues the reset nodes again; flow.blocked names the key a node
// waits for, the guard refuses to start a waiting node by hand, and flow.check
// finds nothing wrong at each step.
func TestConcurrencySlotThroughRetryDiscardCancelAndRunRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"concurrency": {"key": "k", "limit": 1}, "nodes": [
		{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"}, {"id": "c", "kind": "noop"},
		{"id": "d", "kind": "noop", "deps": ["a"]}]}`)
	check := func(wantRunning int) {
		t.Helper()
		require.Equal(t, wantRunning, b.slotRunning(t, "k"))
		b.requireNoBrokenInvariants(t, runID)
		b.requireNoBrokenInvariants(t, 0) // every unfinished run, and the keys' counts
	}
	require.Equal(t, map[string]string{"a": "available", "b": "pending", "c": "pending", "d": "pending"}, b.states(t, runID))
	require.Equal(t, map[string]string{"b": "k", "c": "k"}, b.slotWaiters(t, runID))
	check(1)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID) // nodes waiting for a slot are neither lost nor stuck
	nodes, err := b.flow.Nodes(b.ctx, runID)
	require.NoError(t, err)
	for _, n := range nodes {
		require.Equal(t, "k", n.ConcurrencyKey)
		require.Equal(t, 1, n.ConcurrencyLimit)
		require.Equal(t, n.NodeID == "b" || n.NodeID == "c", n.WaitingForSlot, n.NodeID)
	}

	_, err = b.pool.Exec(b.ctx, "UPDATE river_job SET state = 'available' WHERE id = $1", b.jobID(t, runID, "b"))
	require.ErrorContains(t, err, `it waits for a slot of concurrency key "k"`)

	// A failed attempt to retry keeps the slot.
	b.setNodeState(t, runID, "a", "running")
	b.setNodeState(t, runID, "a", "retryable")
	b.setNodeState(t, runID, "a", "available")
	require.Equal(t, map[string]string{"a": "available", "b": "pending", "c": "pending", "d": "pending"}, b.states(t, runID))
	check(1)

	// a completes: d is released into the queue behind b and c; b gets the slot.
	b.setNodeState(t, runID, "a", "running")
	b.setNodeState(t, runID, "a", "completed")
	require.Equal(t, map[string]string{"a": "completed", "b": "available", "c": "pending", "d": "pending"}, b.states(t, runID))
	require.Equal(t, map[string]string{"c": "k", "d": "k"}, b.slotWaiters(t, runID))
	check(1)

	// b is discarded: c gets the slot.
	b.setNodeState(t, runID, "b", "running")
	b.setNodeState(t, runID, "b", "discarded")
	require.Equal(t, map[string]string{"a": "completed", "b": "discarded", "c": "available", "d": "pending"}, b.states(t, runID))
	check(1)

	// Cancel: c gives its slot back, d leaves the queue.
	_, err = b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCancelled, b.getRun(t, runID).State)
	require.Empty(t, b.slotWaiters(t, runID))
	check(0)

	// flow.retry: b, c and d queue again, oldest first.
	_, err = b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "completed", "b": "available", "c": "pending", "d": "pending"}, b.states(t, runID))
	check(1)
	for _, next := range []string{"c", "d"} {
		prev := map[string]string{"c": "b", "d": "c"}[next]
		b.setNodeState(t, runID, prev, "running")
		b.setNodeState(t, runID, prev, "completed")
		require.Equal(t, "available", b.states(t, runID)[next])
		check(1)
	}
	b.setNodeState(t, runID, "d", "running")
	b.setNodeState(t, runID, "d", "completed")
	require.Equal(t, flow.RunStateCompleted, b.getRun(t, runID).State)
	check(0)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Retries under a real River client: nodes that fail their first attempt
// keep their slot while they retry, and every node completes with no more
// than the limit running at once.
func TestConcurrencyLimitHoldsThroughRetries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	w := flow.New("retries")
	for i := range 10 {
		w.Add(fmt.Sprintf("f%d", i), jobs.FailArgs{Times: 1}, flow.WithConcurrency("retry-key", 2))
	}
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	for id, n := range b.nodes(t, runID) {
		require.Equal(t, 2, n.Attempt, "node %s failed once, then completed", id)
	}
	require.LessOrEqual(t, b.maxOverlap(t, "retry-key"), 2)
	require.Zero(t, b.slotRunning(t, "retry-key"))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Keys from a JSON path over a map's elements, and the node's own
// "concurrency" winning over the run's; flow.nodes shows key and limit.
func TestConcurrencyKeyPathsAndMaps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"input": {"tenant": "acme"}, "concurrency": {"key": "$.input.tenant", "limit": 3},
		"nodes": [
		{"id": "items", "kind": "items", "args": {"items": [{"t": "x"}, {"t": "y"}, {"t": "x"}]}},
		{"id": "each", "kind": "noop", "map": "items", "concurrency": {"key": "$.item.t", "limit": 1}},
		{"id": "inherit", "kind": "noop", "map": "items"},
		{"id": "own", "kind": "noop", "args": {"account": 42}, "concurrency": {"key": "$.args.account", "limit": 5}}]}`)
	rows, err := b.pool.Query(b.ctx, "SELECT node_id, concurrency_key, concurrency_limit FROM flow.nodes WHERE run_id = $1", runID)
	require.NoError(t, err)
	got := map[string]string{}
	for rows.Next() {
		var id string
		var key *string
		var limit *int
		require.NoError(t, rows.Scan(&id, &key, &limit))
		if key != nil {
			got[id] = fmt.Sprintf("%s/%d", *key, *limit)
		}
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{"items": "acme/3", "own": "42/5"}, got)

	b.setNodeState(t, runID, "items", "running")
	_, err = b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'completed', finalized_at = now(),
		metadata = metadata || '{"output": [{"t": "x"}, {"t": "y"}, {"t": "x"}]}' WHERE id = $1`, b.jobID(t, runID, "items"))
	require.NoError(t, err)
	var child, inherit int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT (SELECT child_run_id FROM flow.nodes WHERE run_id = $1 AND node_id = 'each'),
		(SELECT child_run_id FROM flow.nodes WHERE run_id = $1 AND node_id = 'inherit')`, runID).Scan(&child, &inherit))
	require.Equal(t, map[string]string{"0": "available", "1": "available", "2": "pending"}, b.states(t, child))
	require.Equal(t, map[string]string{"2": "x"}, b.slotWaiters(t, child))
	require.Equal(t, 1, b.slotRunning(t, "x"))
	require.Equal(t, 1, b.slotRunning(t, "y"))

	// The run's "$.input.tenant" reaches a map's elements with the run's
	// input: with items (acme's first slot) done, acme has room for all three.
	require.Equal(t, map[string]string{"0": "available", "1": "available", "2": "available"}, b.states(t, inherit))
	nodes, err := b.flow.Nodes(b.ctx, inherit)
	require.NoError(t, err)
	for _, n := range nodes {
		require.Equal(t, "acme", n.ConcurrencyKey, n.NodeID)
	}
	require.Equal(t, 3, b.slotRunning(t, "acme"))
}

// Bad "concurrency" specs are refused with a sentence naming what is wrong,
// and a key path that finds nothing fails the start naming the node.
func TestConcurrencySpecErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for spec, want := range map[string]string{
		`{"concurrency": {"key": "k"}, "nodes": [{"id": "a", "kind": "noop"}]}`:                                                         `"concurrency" must be an object {"key": "...", "limit": N} and nothing else`,
		`{"concurrency": {"key": "k", "limit": 0}, "nodes": [{"id": "a", "kind": "noop"}]}`:                                             `"concurrency" "limit" must be an integer from 1 to 100000`,
		`{"nodes": [{"id": "a", "kind": "noop", "concurrency": {"key": "", "limit": 1}}]}`:                                              `node "a": "concurrency" "key" must be a string of 1 to 200 characters`,
		`{"nodes": [{"id": "a", "kind": "noop", "concurrency": {"key": "$.(", "limit": 1}}]}`:                                           `node "a": "concurrency" "key" "$.(" starts with "$" but is not a JSON path`,
		`{"nodes": [{"id": "a", "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}, "concurrency": {"key": "k", "limit": 1}}]}`:       `node "a": a sub-workflow node takes no "concurrency"`,
		`{"input": {}, "nodes": [{"id": "a", "kind": "noop", "concurrency": {"key": "$.input.tenant", "limit": 1}}]}`:                   `node "a": concurrency key "$.input.tenant" gives nothing, not a string or number`,
		`{"input": {"tenant": {"x": 1}}, "nodes": [{"id": "a", "kind": "noop", "concurrency": {"key": "$.input.tenant", "limit": 1}}]}`: `gives {"x": 1}, not a string or number`,
	} {
		_, err := b.pool.Exec(b.ctx, "SELECT flow.start($1::jsonb)", spec)
		require.Error(t, err, spec)
		require.True(t, strings.Contains(err.Error(), want), "spec %s: got %v, want %q", spec, err, want)
	}
	requireNoRows(t, b.ctx, b.pool)
}

// A node rescued from a dead River client goes back available holding its
// slot (the next node of its key still waits); one the rescue discards gives
// its slot to the next.
func TestConcurrencySlotThroughRescue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop", "concurrency": {"key": "rescued", "limit": 1}},
		{"id": "b", "kind": "noop", "concurrency": {"key": "rescued", "limit": 1}}]}`)
	lose := func() {
		t.Helper()
		_, err := b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'running', attempt = attempt + 1,
			attempted_at = now() - interval '2 minutes', attempted_by = ARRAY['htdag_gone'] WHERE id = $1`, b.jobID(t, runID, "a"))
		require.NoError(t, err)
	}
	rescue := func(maxRescues int) string {
		t.Helper()
		var action string
		require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT action FROM flow.rescue_lost_nodes('3 seconds', true, $1)", maxRescues).Scan(&action))
		return action
	}
	lose()
	require.Equal(t, "available", rescue(100))
	require.Equal(t, map[string]string{"a": "available", "b": "pending"}, b.states(t, runID))
	require.Equal(t, 1, b.slotRunning(t, "rescued"))

	lose()
	require.Equal(t, "discarded", rescue(1))
	require.Equal(t, map[string]string{"a": "discarded", "b": "available"}, b.states(t, runID))
	require.Equal(t, 1, b.slotRunning(t, "rescued"))
	b.requireNoBrokenInvariants(t, 0)

	// Made runnable again by hand (as River's JobRetry does), a finished
	// node takes a slot even over its key's limit: counts stay true.
	_, err := b.pool.Exec(b.ctx, "UPDATE river_job SET state = 'available', finalized_at = NULL WHERE id = $1", b.jobID(t, runID, "a"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "available", "b": "available"}, b.states(t, runID))
	require.Equal(t, 2, b.slotRunning(t, "rescued"))
	b.requireNoBrokenInvariants(t, 0)
}

// flow.check reports a key whose count disagrees with the nodes holding its
// slots (a leaked slot), and a waiting node whose key has room (a lost
// admission).
func TestCheckFindsLeakedSlotsAndLostAdmissions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"concurrency": {"key": "leaky", "limit": 1}, "nodes": [
		{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"}]}`)
	b.requireNoBrokenInvariants(t, 0)

	_, err := b.pool.Exec(b.ctx, "UPDATE flow.concurrency_slot SET running = 0 WHERE key = 'leaky'")
	require.NoError(t, err)
	problems, err := b.flow.Check(b.ctx, 0)
	require.NoError(t, err)
	var got []string
	for _, p := range problems {
		if p.Category.Invariant() {
			got = append(got, fmt.Sprintf("%d %s %s: %s", p.RunID, p.NodeID, p.Category, p.Problem))
		}
	}
	require.Equal(t, []string{
		`0  consistency: concurrency key "leaky" counts 0 running but 1 of its nodes hold a slot (available, scheduled, running or retryable)`,
		fmt.Sprintf(`%d b stuck: waits for a slot of concurrency key "leaky", which has 0 of 1 in use (a lost admission)`, runID),
	}, got)
}

// A running node that expands gives its slot back (its child run is what
// runs), and finishing with that child run frees nothing more.
func TestConcurrencySlotGivenBackByExpansion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"concurrency": {"key": "expand", "limit": 1}, "nodes": [
		{"id": "x", "kind": "noop"}, {"id": "y", "kind": "noop"}]}`)
	b.setNodeState(t, runID, "x", "running")
	var child int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT flow.expand($1, '{"nodes": [{"id": "c", "kind": "noop"}]}')`,
		b.jobID(t, runID, "x")).Scan(&child))
	require.Equal(t, map[string]string{"x": "pending", "y": "available"}, b.states(t, runID))
	require.Equal(t, 1, b.slotRunning(t, "expand"))

	b.setNodeState(t, child, "c", "running")
	b.setNodeState(t, child, "c", "completed")
	require.Equal(t, map[string]string{"x": "completed", "y": "available"}, b.states(t, runID))
	require.Equal(t, 1, b.slotRunning(t, "expand"))
	b.requireNoBrokenInvariants(t, 0)
}

// A map element whose key path finds no string fails the map node, naming
// the element and the key, as a node that cannot start does.
func TestConcurrencyKeyMissingInAMapElementFailsTheMap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "items", "kind": "noop"},
		{"id": "each", "kind": "noop", "map": "items", "concurrency": {"key": "$.item.t", "limit": 1}}]}`)
	b.setNodeState(t, runID, "items", "running")
	_, err := b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'completed', finalized_at = now(),
		metadata = metadata || '{"output": [{"t": "x"}, 7]}' WHERE id = $1`, b.jobID(t, runID, "items"))
	require.NoError(t, err)
	each := b.nodes(t, runID)["each"]
	require.Equal(t, "discarded", each.State)
	require.Contains(t, each.LastError, `node "1": concurrency key "$.item.t" gives nothing, not a string or number`)
	require.Zero(t, b.slotRunning(t, "x"), "the failed start admitted nothing")
}

// Different limits for one key: each node is admitted while fewer than its
// own limit hold a slot, first come first served, so a waiting head with a
// low limit holds back a later node with a higher one.
func TestConcurrencyEachNodesOwnLimitDecidesInQueueOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop", "concurrency": {"key": "mixed", "limit": 2}},
		{"id": "b", "kind": "noop", "concurrency": {"key": "mixed", "limit": 1}},
		{"id": "c", "kind": "noop", "concurrency": {"key": "mixed", "limit": 3}}]}`)
	require.Equal(t, map[string]string{"a": "available", "b": "pending", "c": "pending"}, b.states(t, runID))

	b.setNodeState(t, runID, "a", "running")
	b.setNodeState(t, runID, "a", "completed")
	require.Equal(t, map[string]string{"a": "completed", "b": "available", "c": "available"}, b.states(t, runID))
	require.Equal(t, 2, b.slotRunning(t, "mixed"))
	b.requireNoBrokenInvariants(t, 0)
}

// Two transactions that each start runs of two concurrency keys, in opposite
// orders, both commit: starting a keyed run takes no lock on its key; its
// roots are admitted when the transaction commits, every key locked at once
// in key order (flow.concurrency_admit_at_commit). Before, the second start
// of each waited for the other's key and PostgreSQL aborted one (40P01).
func TestConcurrencyKeyedStartsInOppositeOrdersDoNotDeadlock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spec := func(key string) flow.Specifier {
		w := flow.New("keyed-"+key).Concurrency(key, 1)
		w.Add("a", jobs.NoopArgs{})
		return w
	}
	txA, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = txA.Rollback(b.ctx) }()
	txB, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = txB.Rollback(b.ctx) }()

	// Interleaved: A k1, B k2, A k2, B k1. None of them waits.
	a1, err := b.flow.StartTx(b.ctx, txA, spec("k1"))
	require.NoError(t, err)
	b2, err := b.flow.StartTx(b.ctx, txB, spec("k2"))
	require.NoError(t, err)
	a2, err := b.flow.StartTx(b.ctx, txA, spec("k2"))
	require.NoError(t, err)
	b1, err := b.flow.StartTx(b.ctx, txB, spec("k1"))
	require.NoError(t, err)

	// Before commit, nothing is admitted: the roots are pending, off the queue.
	var admitted int
	require.NoError(t, txA.QueryRow(b.ctx, `SELECT count(*) FROM river_job WHERE state <> 'pending'`).Scan(&admitted))
	require.Zero(t, admitted)

	// Both commit, at once.
	errA := make(chan error, 1)
	go func() { errA <- txA.Commit(b.ctx) }()
	require.NoError(t, txB.Commit(b.ctx))
	require.NoError(t, <-errA)

	// Each key's one slot went to one of its two roots (the transaction
	// that committed first); the other waits for it.
	for key, runs := range map[string][2]int64{"k1": {a1, b1}, "k2": {b2, a2}} {
		require.Equal(t, 1, b.slotRunning(t, key), "key %s", key)
		w0, w1 := b.slotWaiters(t, runs[0]), b.slotWaiters(t, runs[1])
		require.Equal(t, 1, len(w0)+len(w1), "key %s: waiting %v and %v", key, w0, w1)
		for _, w := range []map[string]string{w0, w1} {
			if len(w) > 0 {
				require.Equal(t, map[string]string{"a": key}, w)
			}
		}
	}
	b.requireNoBrokenInvariants(t, 0)

	// A transaction that rolls back leaves nothing to admit.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = b.flow.StartTx(b.ctx, tx, spec("k3"))
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(b.ctx))
	require.Zero(t, b.slotRunning(t, "k3"))
	var pending int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM flow.concurrency_commit").Scan(&pending))
	require.Zero(t, pending, "no transaction's row is left behind")
}

// A flow_starter's keyed run is admitted at its commit, by the engine on its
// behalf: the starter has no rights on the keys' tables.
func TestConcurrencyKeyedStartOfAStarterIsAdmittedAtCommit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	team := b.newRole(t, "team", false)
	b.grantKind(t, team, "noop")
	_, starter := b.loginAs(t, "starter", "flow_starter", team)
	runID, err := startAs(b.ctx, starter, `{"concurrency": {"key": "team-key", "limit": 1},
		"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"}]}`)
	require.NoError(t, err)
	require.Equal(t, 1, b.slotRunning(t, "team-key"))
	require.Len(t, b.slotWaiters(t, runID), 1, "one root holds the slot, the other waits")
	b.requireNoBrokenInvariants(t, runID)
}
