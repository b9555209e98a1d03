package flow

import (
	"sync/atomic"
	"time"
)

// The fleet's periodic duties (rescuing dead workers' nodes, firing due
// timers, looking for due schedule ticks) need doing a few times an
// interval by the whole fleet, not once an interval by every member: fifty
// members each looking every second cost PostgreSQL 150 statements a second
// that find nothing. So the members take turns. Time is cut into ticks of
// the duty's interval, counted from the Unix epoch, and a member whose place
// in the roster of live members (ordered by worker id, read with each
// heartbeat) is slot does the duty at tick n when n ≡ slot (mod stride),
// with stride = members / dutyMembersPerTick: every tick has about
// dutyMembersPerTick members on duty, spread over the tick, so a duty still
// runs every interval or sooner, and one member dying leaves its ticks to
// the others on them until the roster drops it (2.5 heartbeats).
//
// Members whose rosters disagree for a moment (one heartbeat apart) may
// both do a tick or leave one to the next; a member that has not read the
// roster for 3 heartbeats does every tick, as every member did before.
const dutyMembersPerTick = 2

// dutyRoster is this member's place in the roster of live members.
type dutyRoster struct {
	slot, members int
	at            time.Time // when the heartbeat read it
}

// dutyStride is how many ticks apart one member's turns are.
func dutyStride(members int) int64 {
	return int64(max(1, members/dutyMembersPerTick))
}

// onDuty reports whether the member in slot of members does tick n.
func onDuty(n int64, slot, members int) bool {
	if members <= 0 || slot < 0 || slot >= members {
		return true
	}
	k := dutyStride(members)
	return n%k == int64(slot)%k
}

// dutyOffset is when, within its ticks, the member in slot of members does
// its duty: the members of one tick spread evenly over it.
func dutyOffset(interval time.Duration, slot, members int) time.Duration {
	if members <= 0 || slot < 0 || slot >= members {
		return 0
	}
	k := int(dutyStride(members))
	perTick := (members + k - 1) / k
	return interval * time.Duration(slot/k) / time.Duration(perTick)
}

// dutyClock tells a member when its turns are. Safe for concurrent use:
// the heartbeat sets the roster, the rescue and schedule loops read it.
type dutyClock struct {
	heartbeat time.Duration
	roster    atomic.Pointer[dutyRoster]
}

// current is the roster to use at now: nil when there is none, or when it
// is older than 3 heartbeats (the member then does every tick).
func (c *dutyClock) current(now time.Time) *dutyRoster {
	r := c.roster.Load()
	if r == nil || now.Sub(r.at) > 3*c.heartbeat {
		return nil
	}
	return r
}

// next is the next tick of interval after now and after tick last (the
// one this member was armed for: a place that moved later within the tick
// since then must not give it the same tick again): its number, and when
// this member's turn within it would be.
func (c *dutyClock) next(now time.Time, interval time.Duration, last int64) (n int64, at time.Time) {
	slot, members := c.place(now)
	off := dutyOffset(interval, slot, members)
	n = max(now.Add(-off).UnixNano()/int64(interval)+1, last+1)
	return n, time.Unix(0, n*int64(interval)).Add(off)
}

// mine reports whether tick n is this member's turn, by the roster at now
// (the one the heartbeat read since the tick was armed, if any).
func (c *dutyClock) mine(n int64, now time.Time) bool {
	slot, members := c.place(now)
	return onDuty(n, slot, members)
}

// place is this member's slot among members at now (0 of 0: unknown).
func (c *dutyClock) place(now time.Time) (slot, members int) {
	if r := c.current(now); r != nil {
		return r.slot, r.members
	}
	return 0, 0
}
