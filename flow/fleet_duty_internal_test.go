package flow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every tick has at least two members on duty (one when the fleet is one),
// every member has a turn at least every stride ticks, and the members of a
// tick are spread over it.
func TestDutyTurnsCoverEveryTick(t *testing.T) {
	const interval = time.Second
	for members := 1; members <= 130; members++ {
		k := dutyStride(members)
		for n := int64(1_000_000); n < 1_000_000+2*k+3; n++ {
			var on []int
			offsets := map[time.Duration]bool{}
			for slot := range members {
				if onDuty(n, slot, members) {
					on = append(on, slot)
					off := dutyOffset(interval, slot, members)
					require.GreaterOrEqual(t, off, time.Duration(0))
					require.Less(t, off, interval)
					require.False(t, offsets[off], "members %d tick %d: two members at offset %s", members, n, off)
					offsets[off] = true
				}
			}
			require.GreaterOrEqual(t, len(on), min(members, dutyMembersPerTick), "members %d tick %d", members, n)
			require.LessOrEqual(t, len(on), max(3, dutyMembersPerTick+1), "members %d tick %d", members, n)
		}
		for slot := range members {
			var turns int
			for n := range k {
				if onDuty(n, slot, members) {
					turns++
				}
			}
			require.Equal(t, 1, turns, "members %d slot %d: one turn every %d ticks", members, slot, k)
		}
	}
	// A place the member cannot have (a roster not read yet) is on duty
	// at every tick.
	require.True(t, onDuty(7, 0, 0))
	require.True(t, onDuty(7, 5, 5))
}

// next is the member's next turn: strictly after now, at its offset within
// the tick, and every tick when its roster is missing or stale.
func TestDutyClockNext(t *testing.T) {
	const interval = time.Second
	c := &dutyClock{heartbeat: time.Second}
	now := time.Unix(1_800_000_000, 300_000_000)
	n, at := c.next(now, interval, 0)
	require.True(t, c.mine(n, now), "no roster: every tick")
	require.Equal(t, int64(1_800_000_001), n)
	require.Equal(t, time.Unix(1_800_000_001, 0), at)

	c.roster.Store(&dutyRoster{slot: 30, members: 50, at: now})
	// stride 25, two a tick: slot 30 works ticks ≡ 5 (mod 25), half a
	// tick in.
	var turns []int64
	for t0 := now; len(turns) < 3; {
		c.roster.Store(&dutyRoster{slot: 30, members: 50, at: t0}) // read by each heartbeat
		n, at := c.next(t0, interval, 0)
		require.True(t, at.After(t0))
		require.Equal(t, time.Unix(n, 500_000_000), at)
		if c.mine(n, at) {
			turns = append(turns, n)
		}
		t0 = at
	}
	require.Equal(t, []int64{1_800_000_005, 1_800_000_030, 1_800_000_055}, turns)

	// A roster older than three heartbeats is not trusted.
	c.roster.Store(&dutyRoster{slot: 30, members: 50, at: now})
	n, at = c.next(now.Add(4*time.Second), interval, 0)
	require.True(t, c.mine(n, at))
	require.Equal(t, time.Unix(1_800_000_005, 0), at)

	// A place that moved later within the tick after the member did it
	// (no roster, offset 0, then slot 30 of 50, half a tick in) does not
	// give it the same tick again.
	c.roster.Store(nil)
	n, at = c.next(now, interval, 0)
	c.roster.Store(&dutyRoster{slot: 30, members: 50, at: at})
	again, _ := c.next(at.Add(time.Millisecond), interval, n)
	require.Equal(t, n+1, again, "the tick it did, again")
}
