package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

// DefaultScheduleInterval is how often the fleet looks for due schedule
// ticks (its members take turns, about two an interval). A member that
// looked also wakes at the next tick it knows of, so a tick usually fires
// within milliseconds; this bounds the delay after a member that would have
// fired it dies.
const DefaultScheduleInterval = 1 * time.Second

// scheduleBatch is how many due schedules one look fires before looking
// again.
const scheduleBatch = 100

// scheduler fires due schedule ticks for one fleet member. Every member runs
// one; flow.schedule_fire's compare-and-set on next_at, and flow.schedule_tick's
// key, make each tick start at most one run however many fire at once.
type scheduler struct {
	pool     *pgxpool.Pool
	workerID int64
	interval time.Duration
	log      *slog.Logger
	level    func(slog.Level) slog.Level
	// parsed caches cron expressions by expression and time zone.
	parsed map[[2]string]ticks
}

// dueSchedule is a row of the look for due schedules.
type dueSchedule struct {
	id        int64
	name      string
	owner     string
	cron      *string
	every     pgtype.Interval
	timeZone  string
	nextAt    *time.Time
	updatedAt time.Time
}

// fireDue fires every due tick it finds and returns how long to wait before
// looking again: until the next tick it knows of, at most the interval.
func (s *scheduler) fireDue(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Due now, or within the interval: the member then sleeps until that
	// tick rather than a whole interval.
	rows, err := s.pool.Query(ctx, `
		SELECT id, name, owner, cron, every, time_zone, next_at, updated_at, now()
		  FROM flow.schedule
		 WHERE NOT paused AND (next_at IS NULL OR next_at <= now() + $1::interval)
		 ORDER BY next_at NULLS FIRST
		 LIMIT $2`, s.interval, scheduleBatch)
	if err != nil {
		return s.interval, err
	}
	var (
		due []dueSchedule
		now time.Time
		d   dueSchedule
	)
	_, err = pgx.ForEachRow(rows, []any{&d.id, &d.name, &d.owner, &d.cron, &d.every, &d.timeZone, &d.nextAt, &d.updatedAt, &now}, func() error {
		due = append(due, d)
		return nil
	})
	if err != nil {
		return s.interval, err
	}
	wait := s.interval
	var errs []error
	for _, d := range due {
		if d.nextAt != nil && d.nextAt.After(now) {
			wait = min(wait, d.nextAt.Sub(now))
			continue
		}
		// One schedule's failure does not hold back the others.
		next, err := s.fire(ctx, d, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %d (%q of role %q): %w", d.id, d.name, d.owner, err))
			continue
		}
		if !next.IsZero() {
			wait = min(wait, max(0, next.Sub(now)))
		}
	}
	if len(due) == scheduleBatch && len(errs) == 0 {
		wait = 0
	}
	return wait, errors.Join(errs...)
}

// fire works out the schedule's due tick and fires it with
// flow.schedule_fire. It returns the schedule's next tick (zero when the
// fleet cannot read the schedule). A member that lost the race to another
// gets the same next tick: both computed it from the same next_at.
func (s *scheduler) fire(ctx context.Context, d dueSchedule, now time.Time) (time.Time, error) {
	t, err := s.ticks(d)
	var (
		tick    *time.Time
		next    time.Time
		nextArg *time.Time
		problem *string
	)
	if err == nil {
		tick, next, err = dueTick(t, d.nextAt, d.updatedAt, now)
	}
	if err != nil {
		// An expression inserted from SQL that the parser refuses: the
		// schedule is paused, saying why.
		msg := (&ScheduleError{Problem: err.Error()}).Error()
		problem = &msg
	} else {
		nextArg = &next
	}
	var (
		outcome, runErr *string
		runID           *int64
	)
	err = s.pool.QueryRow(ctx, "SELECT outcome, run_id, error FROM flow.schedule_fire($1, $2, $3, $4, $5, $6)",
		d.id, d.nextAt, tick, nextArg, s.workerID, problem).Scan(&outcome, &runID, &runErr)
	if err != nil {
		return time.Time{}, err
	}
	attrs := []any{"schedule", d.name, "owner", d.owner, "worker_id", s.workerID}
	if tick != nil {
		attrs = append(attrs, "tick", *tick)
	}
	switch {
	case problem != nil:
		if runErr != nil {
			s.log.WarnContext(ctx, "htdag: paused a schedule the fleet cannot read", append(attrs, "error", *problem)...)
		}
	case outcome == nil:
		// Fired by another member, or changed meanwhile; or only its first
		// tick was computed.
	case TickOutcome(*outcome) == TickStarted:
		s.log.DebugContext(ctx, "htdag: a schedule started a run", append(attrs, "run_id", *runID)...)
	case TickOutcome(*outcome) == TickOverlap:
		s.log.DebugContext(ctx, "htdag: a schedule's tick started nothing: its previous run is unfinished (overlap skip)", append(attrs, "run_id", *runID)...)
	case TickOutcome(*outcome) == TickMissed:
		s.log.InfoContext(ctx, "htdag: a schedule's tick started nothing: it was more than a minute late (catch_up skip)", attrs...)
	case TickOutcome(*outcome) == TickFailed:
		s.log.WarnContext(ctx, "htdag: a schedule's tick started nothing: flow.start refused its spec", append(attrs, "error", *runErr)...)
	}
	return next, nil
}

// ticks reads the schedule's timing, from the cache for a cron expression.
func (s *scheduler) ticks(d dueSchedule) (ticks, error) {
	if d.cron == nil {
		return parseTicks("", intervalDuration(d.every), "")
	}
	key := [2]string{*d.cron, d.timeZone}
	if t, ok := s.parsed[key]; ok {
		return t, nil
	}
	t, err := parseTicks(*d.cron, 0, d.timeZone)
	if err != nil {
		return nil, err
	}
	if len(s.parsed) >= 1000 {
		clear(s.parsed)
	}
	s.parsed[key] = t
	return t, nil
}

// runSchedules is the fleet member's schedule loop; it ends with ctx, or
// when the member was declared dead. A member that knows of a tick within
// the interval wakes for it; otherwise it looks for due ticks only at its
// turns (fleet_duty.go), so that the fleet looks about twice an interval
// whatever its size.
func (f *Fleet) runSchedules(ctx context.Context) {
	defer close(f.schedulesDone)
	s := &scheduler{pool: f.pool, workerID: f.id, interval: f.cfg.ScheduleInterval, log: f.log,
		level: f.connLevel, parsed: map[[2]string]ticks{}}
	timer := time.NewTimer(0)
	defer timer.Stop()
	known := true  // whether the timer is armed for a tick this member knows of
	var turn int64 // else, the tick of the duty clock it is armed for
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if f.dead.Load() {
			return
		}
		wait := s.interval
		if known || f.duty.mine(turn, time.Now()) {
			var err error
			wait, err = s.fireDue(ctx)
			switch {
			case errors.Is(err, puddle.ErrClosedPool):
				return // as in the rescue loop: a member whose pool closed without Leave
			case err != nil && ctx.Err() == nil:
				s.log.Log(ctx, s.level(slog.LevelWarn), "htdag: firing schedules failed", "worker_id", f.id, "error", err)
			}
		}
		if wait < s.interval {
			// A millisecond past the tick, so that the database's clock
			// has reached it too.
			known = true
			timer.Reset(wait + time.Millisecond)
			continue
		}
		var at time.Time
		known = false
		turn, at = f.duty.next(time.Now(), s.interval, turn)
		timer.Reset(time.Until(at))
	}
}
