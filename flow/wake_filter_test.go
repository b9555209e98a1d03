package flow

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func wakeMembers(free ...int) []wakeMember {
	ms := make([]wakeMember, len(free))
	for i, f := range free {
		ms[i] = wakeMember{id: int64(10 + i), free: f}
	}
	return ms
}

// chosen lists the members that wake for a release of n notified by pid.
func chosen(ms []wakeMember, n int64, pid uint32) []int64 {
	var ids []int64
	for _, m := range ms {
		if wakeChooses(ms, m.id, n, pid) {
			ids = append(ids, m.id)
		}
	}
	return ids
}

// A release of one job wakes two idle workers, the pair moving with the
// notifying backend's pid so that the work spreads.
func TestWakeOneJobWakesTwoWorkers(t *testing.T) {
	t.Parallel()
	ms := wakeMembers(10, 10, 10, 10, 10, 10, 10, 10, 10, 10)
	seen := map[int64]bool{}
	for pid := uint32(1000); pid < 1100; pid++ {
		ids := chosen(ms, 1, pid)
		require.Len(t, ids, 2, "pid %d", pid)
		for _, id := range ids {
			seen[id] = true
		}
	}
	require.Len(t, seen, len(ms), "every worker is chosen for some pid")
}

// Enough workers wake to cover the released jobs with their free slots,
// plus one.
func TestWakeCoversTheReleasedJobs(t *testing.T) {
	t.Parallel()
	ms := wakeMembers(10, 10, 10, 10, 10, 10, 10, 10)
	require.Len(t, chosen(ms, 25, 0), 4, "three workers of 10 slots cover 25, and one more")
	require.Len(t, chosen(ms, 30, 0), 4)
	require.Len(t, chosen(ms, 31, 0), 5)
	require.Len(t, chosen(ms, 79, 0), 8)
	require.Len(t, chosen(ms, 10_000, 0), 8, "a release wider than the free slots wakes everyone")
}

// Workers full at their last heartbeat are passed over while others have
// room, and woken when nobody has.
func TestWakeSkipsFullWorkers(t *testing.T) {
	t.Parallel()
	ms := wakeMembers(0, 0, 5, 5, 5)
	for pid := range uint32(50) {
		ids := chosen(ms, 1, pid)
		require.Len(t, ids, 2, "pid %d", pid)
		require.NotContains(t, ids, int64(10))
		require.NotContains(t, ids, int64(11))
	}
	require.Len(t, chosen(wakeMembers(0, 0, 0, 0), 1, 7), 4, "all full: everyone fetches once a slot frees")
	require.Len(t, chosen(wakeMembers(0, 0, 1, 0), 1, 7), 4, "the free slots cover n with no worker to spare: everyone")
	require.Equal(t, []int64{10, 11}, chosen(wakeMembers(-1, -1, -1, -1), 1, 0), "unknown free slots count as one")
}

// Small fleets, and a worker missing from its own roster (it just joined),
// hear everything.
func TestWakeEveryoneWhenTheRosterCannotChoose(t *testing.T) {
	t.Parallel()
	require.Len(t, chosen(wakeMembers(10, 10), 1, 3), 2)
	require.True(t, wakeChooses(wakeMembers(10, 10, 10, 10), 99, 1, 3))
}

// However the free slots lie, every notification wakes at least one worker
// when the members agree on the roster, and at least enough to cover n when
// they can.
func TestWakeAlwaysWakesSomeone(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		free := make([]int, 1+r.IntN(12))
		total := 0
		for i := range free {
			free[i] = r.IntN(5) - 1
			total += max(free[i], 0)
		}
		ms := wakeMembers(free...)
		n := int64(1 + r.IntN(30))
		ids := chosen(ms, n, r.Uint32())
		require.NotEmpty(t, ids, fmt.Sprint(free, n))
		covered := 0
		for _, id := range ids {
			covered += max(ms[id-10].free, 1)
		}
		require.True(t, covered >= int(min(n, int64(total))), "free %v n %d chose %v", free, n, ids)
	}
}

// The filter reads River's payload; without htdag's "n", or before the
// first roster, or for a queue it does not know, it passes.
func TestWakeFilterReadsThePayload(t *testing.T) {
	t.Parallel()
	w := &wakeFilter{self: 10}
	require.True(t, w.pass(`{"queue": "default", "n": 1}`, 5), "no roster yet")
	roster := wakeRoster{"default": wakeMembers(10, 10, 10, 10)}
	w.roster.Store(&roster)
	require.True(t, w.pass(`{"queue": "default"}`, 5), "River's own payload")
	require.True(t, w.pass(`{"queue": "other", "n": 1}`, 5))
	require.True(t, w.pass(`not json`, 5))
	require.True(t, w.pass(`{"queue": "default", "n": 1}`, 0), "pid 0 starts at worker 10")
	require.False(t, w.pass(`{"queue": "default", "n": 1}`, 2), "pid 2 chooses workers 12 and 13")
	require.Equal(t, int64(5), w.passed.Load())
	require.Equal(t, int64(1), w.dropped.Load())
}
