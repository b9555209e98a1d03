package flow

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync/atomic"
)

// insertTopic is River's topic for "jobs became available in a queue"
// (River's internal notifier.NotificationTopicInsert).
const insertTopic = "river_insert"

// wakeFilter is a fleet member's part in thinning the wake-up herd (see
// flow.notify_runnable and docs/SCALING.md). Before, every statement that
// made jobs available NOTIFYed their queue on River's channel and every idle
// producer that heard it fetched: with 50 workers a one-node release cost 50
// fetches, 49 of which found nothing.
//
// Once River's listener LISTENs on the member's own channel too
// (public.htdag_wake_<id>, set up by sessionListener.Listen), its heartbeat
// reports its free slots, and a release NOTIFYs the workers it chooses there:
// those are passed to River as River's insert topic.
//
// A release that cannot choose (some worker of the queue does not report,
// a fleet of one or two, not enough free slots) wakes everyone on River's
// channel with "n", the jobs its transaction made available. The member
// then makes the choice for itself from its roster (the live workers of
// each queue and their free slots, read with each heartbeat): starting at a
// place given by the notifying backend's pid, walk the queue's workers that
// had free slots until their slots cover n, then one more; only the chosen
// pass the notification to River. This matters in a fleet where some
// workers do not listen on their own channel; where none has free slots, or
// the release is wider than them, everyone passes it (the full ones fetch
// when a slot frees, as River does).
//
// When members disagree (a worker joined or died since the last roster, a
// heartbeat's figures are a second old), a notification may reach fewer
// workers than it should; the second chosen worker covers one such miss, and
// River's poll (FetchPollInterval, 1 s) the rest. A notification without "n"
// (River's own inserts, htdag's rarer wake-ups such as a rescue) reaches
// every worker, as does any notification before the first roster.
type wakeFilter struct {
	self   int64
	roster atomic.Pointer[wakeRoster]
	// listenGen is the session connection on which River's listener
	// LISTENs on this worker's own channel (topic); 0: none. The heartbeat
	// reports free slots, which tells flow.notify_runnable to wake the
	// worker there, only from that connection: after a reconnect (a
	// PostgreSQL restart) it waits until the LISTEN is in place again.
	listenGen atomic.Uint64

	passed, dropped atomic.Int64 // notifications given to River, and not
	own             atomic.Int64 // of the passed, those on the worker's own channel
}

// topic is the worker's own wake-up channel (schema-qualified like River's:
// public.htdag_wake_<id>).
func (w *wakeFilter) topic() string { return "htdag_wake_" + strconv.FormatInt(w.self, 10) }

// wakeRoster is the live workers of each queue, sorted by id.
type wakeRoster map[string][]wakeMember

// wakeMember is a live worker of a queue and its free slots at its last
// heartbeat (-1: it did not say).
type wakeMember struct {
	id   int64
	free int
}

// pass reports whether River should hear the notification payload sent by
// backend pid, counting the answer.
func (w *wakeFilter) pass(payload string, pid uint32) bool {
	ok := w.decide(payload, pid)
	if ok {
		w.passed.Add(1)
	} else {
		w.dropped.Add(1)
	}
	return ok
}

func (w *wakeFilter) decide(payload string, pid uint32) bool {
	roster := w.roster.Load()
	if roster == nil {
		return true
	}
	var p struct {
		Queue string `json:"queue"`
		N     *int64 `json:"n"`
	}
	if json.Unmarshal([]byte(payload), &p) != nil || p.N == nil {
		return true
	}
	members, ok := (*roster)[p.Queue]
	if !ok {
		return true // River's producer ignores a queue it does not work
	}
	return wakeChooses(members, w.self, *p.N, pid)
}

// wakeChooses reports whether worker self is among those a release of n jobs
// notified by backend pid wakes, members being the queue's live workers
// sorted by id (see wakeFilter).
func wakeChooses(members []wakeMember, self, n int64, pid uint32) bool {
	if len(members) <= 2 || !slices.ContainsFunc(members, func(m wakeMember) bool { return m.id == self }) {
		return true
	}
	start := int(pid % uint32(len(members)))
	var covered int64
	chosenAfterCover := 0
	for i := range members {
		m := members[(start+i)%len(members)]
		if m.free == 0 {
			continue // full at its last heartbeat
		}
		if covered >= n {
			if chosenAfterCover == 1 {
				return false
			}
			chosenAfterCover++
		}
		if m.id == self {
			return true
		}
		covered += int64(max(m.free, 1))
	}
	// The free slots do not cover n (or self was full): everyone fetches,
	// the full ones as soon as a slot frees.
	return covered < n || chosenAfterCover == 0
}
