package flow

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Waiters is how many calls of Wait and WaitMany are registered with c's
// listener, for tests that need every waiter in place before they act.
func Waiters(c *Client) int {
	c.listener.mu.Lock()
	defer c.listener.mu.Unlock()
	return c.listener.count
}

// Kill stops f the way a killed process stops: its heartbeats end and its
// session's connection closes (shared with River's LISTEN, that one is then
// opened again, without the lock), while flow.worker still says it runs.
func Kill(f *Fleet) {
	f.cancel()
	<-f.done
	<-f.schedulesDone
	f.session.closeConn(context.Background())
}

// FireSchedules looks for due schedule ticks once and fires them, as the
// fleet member workerID's schedule loop does, for tests that fire from many
// goroutines at the same instant.
func FireSchedules(ctx context.Context, pool *pgxpool.Pool, workerID int64) error {
	s := &scheduler{pool: pool, workerID: workerID, interval: DefaultScheduleInterval, log: slog.Default(),
		level: func(l slog.Level) slog.Level { return l }, parsed: map[[2]string]ticks{}}
	_, err := s.fireDue(ctx)
	return err
}

// RegisteredKinds is registeredKinds, for the test that pins it to River.
var RegisteredKinds = registeredKinds

// CompletionsForRiver is how many jobs htdag's completer completed on pool
// that River's completer has not yet been told about.
func CompletionsForRiver(pool *pgxpool.Pool) int { return completedJobsOf(pool).len() }

// WaitPolls reports whether c's waits read their runs by polling, their
// LISTEN having been found not to hear.
func WaitPolls(c *Client) bool {
	c.listener.mu.Lock()
	defer c.listener.mu.Unlock()
	return c.listener.session != nil && c.listener.session.polling
}

// WakeCounts is how many insert notifications f's session passed to River,
// and how many it dropped because other workers were chosen.
func WakeCounts(f *Fleet) (passed, dropped int64) {
	if f.wake == nil {
		return 0, 0
	}
	return f.wake.passed.Load(), f.wake.dropped.Load()
}

// WakeOwn is how many wake-ups f heard on its own channel.
func WakeOwn(f *Fleet) int64 {
	if f.wake == nil {
		return 0
	}
	return f.wake.own.Load()
}

// WakeRoster is f's roster of queue: each live worker's free slots (-1: it
// did not say); nil before the first.
func WakeRoster(f *Fleet, queue string) map[int64]int {
	if f.wake == nil || f.wake.roster.Load() == nil {
		return nil
	}
	m := map[int64]int{}
	for _, w := range (*f.wake.roster.Load())[queue] {
		m[w.id] = w.free
	}
	return m
}

// OnRescueTurn tells fn of each rescue tick f does from now on (tick: the
// Unix time divided by the rescue interval).
func OnRescueTurn(f *Fleet, fn func(tick int64)) { f.onRescueTurn.Store(&fn) }

// DutyPlace is f's place among the fleet's live members, as its last
// heartbeat read it (members 0: none read yet).
func DutyPlace(f *Fleet) (slot, members int) {
	if r := f.duty.roster.Load(); r != nil {
		return r.slot, r.members
	}
	return 0, 0
}

// OnDuty is onDuty, for tests of the turns.
var OnDuty = onDuty
