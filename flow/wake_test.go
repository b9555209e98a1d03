package flow_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// A fleet of five workers, two of them full (each works a gate node in its
// only slot). A chain's releases wake two of the three idle workers each, on
// their own channels, never the full ones and never all five, and every step is woken by its
// NOTIFY: the producers poll once a minute, so a notification that reached
// no worker able to fetch would stall the chain past the test's deadline.
func TestReleaseWakesTwoFreeWorkersNotTheWholeFleet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	var fleets []*flow.Fleet
	join := func(maxWorkers int) {
		session := flow.NewDirectSession(b.pool.Config().ConnConfig)
		t.Cleanup(func() { require.NoError(t, session.Close(context.Background())) })
		pool := b.newPool(t, 4)
		config := riverConfig(pool, tw)
		config.FetchPollInterval = time.Minute
		config.Queues = map[string]river.QueueConfig{river.QueueDefault: riverQueue(maxWorkers)}
		flowtest.StartRiverWithFleet(t, pool, config, &flow.FleetConfig{
			Session:        session,
			OnDeclaredDead: func() { t.Errorf("a worker was declared dead") },
		})
		fleets = append(fleets, flow.MiddlewareOf(config).Fleet())
	}
	gate := func(started int64) {
		b.startSQL(t, `{"nodes": [{"id": "g", "kind": "gate"}]}`)
		require.Eventually(t, func() bool { return tw.gate.started.Load() == started }, 20*time.Second, 10*time.Millisecond,
			"the gate node did not start")
	}
	// Workers 1 and 2 (the lowest ids: a release whose walk starts at
	// worker 1 would choose exactly them if fullness were ignored).
	join(1)
	gate(1)
	join(1)
	gate(2)
	t.Cleanup(func() { close(tw.gate.open) }) // before the clients stop
	for range 3 {
		join(10)
	}

	// Every roster has all five, the first two full.
	want := map[int64]int{}
	for i, f := range fleets {
		want[f.ID()] = map[bool]int{true: 0, false: 10}[i < 2]
	}
	require.Eventually(t, func() bool {
		for _, f := range fleets {
			if fmt.Sprint(flow.WakeRoster(f, river.QueueDefault)) != fmt.Sprint(want) {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "the rosters never agreed on %v", want)

	counts := func() (passed []int64, own int64) {
		for _, f := range fleets {
			p, _ := flow.WakeCounts(f)
			passed = append(passed, p)
			own += flow.WakeOwn(f)
		}
		return passed, own
	}
	passedBefore, ownBefore := counts()

	const steps = 40
	nodes := []string{`{"id": "s0", "kind": "noop"}`}
	for i := 1; i < steps; i++ {
		nodes = append(nodes, fmt.Sprintf(`{"id": "s%d", "kind": "noop", "deps": ["s%d"]}`, i, i-1))
	}
	runID := b.startSQL(t, `{"nodes": [`+strings.Join(nodes, ",")+`]}`)
	b.requireFinishesWithin(t, runID, 30*time.Second, "a step waited for the minute's poll: its wake-up reached no free worker")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	passed, own := counts()
	total := int64(0)
	for i := range fleets {
		d := passed[i] - passedBefore[i]
		if i < 2 {
			require.Zero(t, d, "a full worker %d was woken", i+1)
		}
		total += d
	}
	// One wake-up per step (the start, then each release), each heard by
	// two workers on their own channels; all five would hear it on
	// River's channel without the choice.
	require.GreaterOrEqual(t, total, int64(steps), "each step was woken")
	require.LessOrEqual(t, total, int64(5*steps/2), "releases woke more than two workers each")
	require.GreaterOrEqual(t, own-ownBefore, int64(2*steps-4), "the wake-ups came on the chosen workers' own channels")
}

// A worker with WakeAll (worker run --wake-all) never reports free slots, so
// releases of its queue keep waking every worker on River's channel while it
// lives; a worker without it reports them once it listens on its own channel.
func TestWakeAllWorkerReportsNoFreeSlots(t *testing.T) {
	t.Parallel()
	b := setup(t)
	join := func(wakeAll bool) *flow.Fleet {
		session := flow.NewDirectSession(b.pool.Config().ConnConfig)
		t.Cleanup(func() { require.NoError(t, session.Close(context.Background())) })
		config := riverConfig(b.pool, newTestWorkers())
		flowtest.StartRiverWithFleet(t, b.pool, config, &flow.FleetConfig{
			Session: session, WakeAll: wakeAll,
			OnDeclaredDead: func() { t.Errorf("a worker was declared dead") },
		})
		return flow.MiddlewareOf(config).Fleet()
	}
	all, chosen := join(true), join(false)
	freeSlots := func(f *flow.Fleet) (free *string, seen time.Time) {
		require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT free_slots::text, last_seen_at FROM flow.worker WHERE id = $1", f.ID()).Scan(&free, &seen))
		return free, seen
	}
	_, joined := freeSlots(all)
	require.Eventually(t, func() bool { free, _ := freeSlots(chosen); return free != nil }, 20*time.Second, 20*time.Millisecond,
		"the worker without --wake-all never reported its free slots")
	require.Eventually(t, func() bool { _, seen := freeSlots(all); return seen.After(joined) }, 20*time.Second, 20*time.Millisecond,
		"the --wake-all worker never sent a heartbeat")
	free, _ := freeSlots(all)
	require.Nil(t, free, "the --wake-all worker reported free slots")

	// flow.workers (and worker workers) shows them: an operator sees which
	// worker makes releases wake everyone.
	workers, err := b.flow.Workers(b.ctx, true)
	require.NoError(t, err)
	shown := map[int64]map[string]int{}
	for _, w := range workers {
		shown[w.ID] = w.FreeSlots
	}
	require.Contains(t, shown, all.ID())
	require.Nil(t, shown[all.ID()], "the --wake-all worker shows no free slots")
	require.Contains(t, shown[chosen.ID()], river.QueueDefault, "the other worker shows its free slots")
}
