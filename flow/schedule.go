package flow

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// CatchUp says what a schedule does about ticks that passed while no worker
// could fire them (every worker down, say).
type CatchUp string

// Catch-up policies.
const (
	// CatchUpOnce starts one run on recovery for all the ticks missed (the
	// latest of them). The default.
	CatchUpOnce CatchUp = "once"
	// CatchUpSkip starts nothing for a tick more than a minute late; the
	// schedule goes on from its next tick.
	CatchUpSkip CatchUp = "skip"
)

// Overlap says what a schedule does at a tick while the run it started last
// is unfinished.
type Overlap string

// Overlap policies.
const (
	// OverlapSkip starts nothing at such a tick. The default.
	OverlapSkip Overlap = "skip"
	// OverlapAllow starts a run at every tick, whatever is still running.
	OverlapAllow Overlap = "allow"
)

// TickOutcome is what firing one tick of a schedule did.
type TickOutcome string

// Tick outcomes (flow.schedule_tick).
const (
	// TickStarted: the tick started a run.
	TickStarted TickOutcome = "started"
	// TickOverlap: the schedule's previous run was unfinished and its
	// overlap policy is skip: nothing started.
	TickOverlap TickOutcome = "overlap"
	// TickMissed: the tick was more than a minute late and the schedule's
	// catch-up policy is skip: nothing started.
	TickMissed TickOutcome = "missed"
	// TickFailed: flow.start refused the spec (the owner's grants or limits
	// changed since the schedule was created, say); the error says why, and
	// the schedule goes on.
	TickFailed TickOutcome = "failed"
)

// Schedule describes a schedule for [Client.CreateSchedule]: a name, a spec,
// and when to start it, as a run owned by the client's owner ([Config].Owner,
// else the session's role), whose kind grants and limits apply.
type Schedule struct {
	// Name identifies the schedule among its owner's: 1 to 128 characters
	// of A-Z a-z 0-9 _ . : -. Required.
	Name string
	// Spec is what each tick starts: a *[Workflow], a *[Spec] or a
	// [JSONSpec]. A spec without a name gets the schedule's. Required.
	Spec Specifier
	// Cron is a cron expression (github.com/robfig/cron/v3's syntax): 5
	// fields (minute hour day-of-month month day-of-week), 6 with seconds
	// first, or @yearly, @monthly, @weekly, @daily, @hourly. Give Cron or
	// Every.
	Cron string
	// TimeZone is the IANA time zone Cron is read in ("Europe/Paris").
	// Default: UTC.
	TimeZone string
	// Every ticks at a fixed interval (at least a second), from one interval
	// after the schedule is created. Give Cron or Every.
	Every time.Duration
	// CatchUp is the policy for ticks missed while no worker could fire
	// them. Default: [CatchUpOnce].
	CatchUp CatchUp
	// Overlap is the policy for a tick while the previous run is
	// unfinished. Default: [OverlapSkip].
	Overlap Overlap
	// Paused creates the schedule paused (see [Client.ResumeSchedule]).
	Paused bool
	// Replace replaces the definition of an existing schedule of the same
	// owner and name, keeping its tick history and last run. Without it,
	// creating a schedule that exists is [ErrScheduleExists].
	Replace bool
}

// ScheduleInfo is one row of flow.schedules.
type ScheduleInfo struct {
	ID    int64
	Name  string
	Owner string
	// Cron and TimeZone, or Every (zero for a cron schedule).
	Cron     string
	TimeZone string
	Every    time.Duration
	CatchUp  CatchUp
	Overlap  Overlap
	Paused   bool
	// NextAt is the next tick; nil until the fleet has computed it (a cron
	// schedule created or resumed from SQL without one).
	NextAt *time.Time
	// LastTickAt is the last tick fired and LastOutcome what it did; nil and
	// "" before the first.
	LastTickAt  *time.Time
	LastOutcome TickOutcome
	// LastRunID is the last run the schedule started and LastRunState its
	// state (nil once retention deleted it).
	LastRunID    *int64
	LastRunState *RunState
	// LastError says why the last tick started nothing (TickFailed), or
	// why the fleet paused the schedule (an expression it cannot read).
	LastError string
	// Spec is what each tick starts.
	Spec      json.RawMessage
	CreatedAt time.Time
	// CreatedBy is the role that created the schedule (its owner, or an
	// admin or member of the owner acting for it).
	CreatedBy string
	// UpdatedAt is when it was created, replaced, paused or resumed.
	UpdatedAt time.Time
}

// ErrScheduleNotFound is returned for a schedule that does not exist, or that
// the caller may not see (another role's).
var ErrScheduleNotFound = errors.New("schedule not found")

// ErrScheduleExists is returned by [Client.CreateSchedule] for a name the
// owner already has a schedule by, unless [Schedule].Replace.
var ErrScheduleExists = errors.New("schedule already exists")

// ScheduleError reports a schedule whose timing or policies are invalid: a
// cron expression the parser cannot read (named, with the parser's reason),
// an unknown time zone, an interval under a second... Nothing was written.
// An invalid spec is a *[SpecError] instead.
type ScheduleError struct {
	// Problem names what is wrong, e.g. `cron "61 * * * *": end of range
	// (61) above maximum (59): 61`.
	Problem string
}

func (e *ScheduleError) Error() string { return scheduleErrorPrefix + e.Problem }

const scheduleErrorPrefix = "invalid schedule: "

// CreateSchedule creates a schedule, owned by the client's owner, and returns
// it as stored. Everything is checked before anything is written: the
// timing (a cron expression by the same parser the fleet fires it with) and
// policies (a *[ScheduleError]), and the spec by every rule of flow.start as
// a tick would meet them (a *[SpecError], or a *[NotAllowedError] for a kind
// the owner may not start). It wraps flow.schedule_create.
//
// Any fleet member ([JoinFleet]; every `worker run`) fires the schedule's
// ticks, each exactly once, however many run.
func (c *Client) CreateSchedule(ctx context.Context, s Schedule) (*ScheduleInfo, error) {
	var info *ScheduleInfo
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		info, err = c.createSchedule(ctx, tx, s)
		return err
	})
	return info, err
}

// CreateScheduleTx is [Client.CreateSchedule] inside tx: the schedule exists
// only if tx commits. After an error, roll tx back.
func (c *Client) CreateScheduleTx(ctx context.Context, tx pgx.Tx, s Schedule) (*ScheduleInfo, error) {
	return c.createSchedule(ctx, tx, s)
}

func (c *Client) createSchedule(ctx context.Context, tx pgx.Tx, s Schedule) (*ScheduleInfo, error) {
	raw, err := encodeSpec(s.Spec)
	if err != nil {
		return nil, err
	}
	t, err := parseTicks(s.Cron, s.Every, s.TimeZone)
	if err != nil {
		return nil, &ScheduleError{Problem: err.Error()}
	}
	tz := s.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	var (
		cronExpr *string
		every    *pgtype.Interval
		next     *time.Time
	)
	if s.Every != 0 {
		every = &pgtype.Interval{Microseconds: s.Every.Microseconds(), Valid: true}
	} else {
		cronExpr = &s.Cron
		// The first tick after now, by the database's clock, as the fleet
		// will compute the ticks after it.
		var now time.Time
		if err := tx.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
			return nil, err
		}
		first := t.after(now)
		if first.IsZero() {
			return nil, &ScheduleError{Problem: fmt.Sprintf("cron %q: %s", s.Cron, errNeverTicks)}
		}
		next = &first
	}
	var id int64
	err = tx.QueryRow(ctx, `SELECT flow.schedule_create(name => $1, spec => $2::jsonb, cron => $3, every => $4,
		time_zone => $5, catch_up => $6, overlap => $7, paused => $8, next_at => $9, owner => $10, or_replace => $11)`,
		s.Name, string(raw), cronExpr, every, tz, string(cmp.Or(s.CatchUp, CatchUpOnce)),
		string(cmp.Or(s.Overlap, OverlapSkip)), s.Paused, next, c.owner(), s.Replace).Scan(&id)
	if err != nil {
		return nil, scheduleError(err, s.Name)
	}
	return getScheduleByID(ctx, tx, id)
}

// GetSchedule reads the schedule name of the client's owner.
func (c *Client) GetSchedule(ctx context.Context, name string) (*ScheduleInfo, error) {
	return getSchedule(ctx, c.pool, name, c.owner())
}

// ListSchedules lists the schedules the caller may see (its roles'; an
// admin's, every one), by owner and name.
func (c *Client) ListSchedules(ctx context.Context) ([]*ScheduleInfo, error) {
	rows, err := c.pool.Query(ctx, "SELECT "+scheduleColumns+" FROM flow.schedules ORDER BY owner, name")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*ScheduleInfo, error) { return scanSchedule(row) })
}

// PauseSchedule stops the schedule name's ticks until [Client.ResumeSchedule];
// a run it started goes on. It reports false, changing nothing, for a
// schedule already paused. It wraps flow.schedule_pause.
func (c *Client) PauseSchedule(ctx context.Context, name string) (bool, error) {
	return c.pauseSchedule(ctx, c.pool, name)
}

// PauseScheduleTx is [Client.PauseSchedule] inside tx. After an error, roll
// tx back.
func (c *Client) PauseScheduleTx(ctx context.Context, tx pgx.Tx, name string) (bool, error) {
	return c.pauseSchedule(ctx, tx, name)
}

func (c *Client) pauseSchedule(ctx context.Context, q querier, name string) (bool, error) {
	var changed bool
	err := q.QueryRow(ctx, "SELECT flow.schedule_pause($1, $2)", name, c.owner()).Scan(&changed)
	return changed, scheduleError(err, name)
}

// ResumeSchedule resumes a paused schedule from its next tick after now:
// ticks that passed while it was paused start nothing. It reports false,
// changing nothing, for a schedule that was not paused. It wraps
// flow.schedule_resume.
func (c *Client) ResumeSchedule(ctx context.Context, name string) (bool, error) {
	var changed bool
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		changed, err = c.resumeSchedule(ctx, tx, name)
		return err
	})
	return changed, err
}

// ResumeScheduleTx is [Client.ResumeSchedule] inside tx. After an error,
// roll tx back.
func (c *Client) ResumeScheduleTx(ctx context.Context, tx pgx.Tx, name string) (bool, error) {
	return c.resumeSchedule(ctx, tx, name)
}

func (c *Client) resumeSchedule(ctx context.Context, tx pgx.Tx, name string) (bool, error) {
	// A cron schedule's next tick is computed here, by the fleet's parser;
	// flow.schedule_resume computes an interval's itself.
	var (
		cronExpr *string
		tz       string
		now      time.Time
		next     *time.Time
	)
	err := tx.QueryRow(ctx, "SELECT cron, time_zone, now() FROM flow.schedules WHERE owner = coalesce($2, flow.caller()) AND name = $1",
		name, c.owner()).Scan(&cronExpr, &tz, &now)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// flow.schedule_resume says it does not exist.
	case err != nil:
		return false, err
	case cronExpr != nil:
		if t, err := parseTicks(*cronExpr, 0, tz); err == nil {
			if first := t.after(now); !first.IsZero() {
				next = &first
			}
		}
	}
	var changed bool
	err = tx.QueryRow(ctx, "SELECT flow.schedule_resume($1, $2, $3)", name, next, c.owner()).Scan(&changed)
	return changed, scheduleError(err, name)
}

// DeleteSchedule removes the schedule name and its tick history; runs it
// started go on. It wraps flow.schedule_delete.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return c.deleteSchedule(ctx, c.pool, name)
}

// DeleteScheduleTx is [Client.DeleteSchedule] inside tx. After an error,
// roll tx back.
func (c *Client) DeleteScheduleTx(ctx context.Context, tx pgx.Tx, name string) error {
	return c.deleteSchedule(ctx, tx, name)
}

func (c *Client) deleteSchedule(ctx context.Context, q querier, name string) error {
	var deleted bool
	err := q.QueryRow(ctx, "SELECT flow.schedule_delete($1, $2)", name, c.owner()).Scan(&deleted)
	return scheduleError(err, name)
}

// scheduleColumns are read from flow.schedules (which shows a caller its
// roles' schedules only).
const scheduleColumns = `id, name, owner, coalesce(cron, ''), time_zone, every, catch_up, overlap, paused, next_at,
	last_tick_at, coalesce(last_outcome, ''), last_run_id, last_run_state, coalesce(last_error, ''), spec,
	created_at, created_by, updated_at`

func scanSchedule(row pgx.Row) (*ScheduleInfo, error) {
	var (
		s                         ScheduleInfo
		every                     pgtype.Interval
		catchUp, overlap, outcome string
		runState                  *string
	)
	if err := row.Scan(&s.ID, &s.Name, &s.Owner, &s.Cron, &s.TimeZone, &every, &catchUp, &overlap, &s.Paused, &s.NextAt,
		&s.LastTickAt, &outcome, &s.LastRunID, &runState, &s.LastError, &s.Spec,
		&s.CreatedAt, &s.CreatedBy, &s.UpdatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrScheduleNotFound
		}
		return nil, err
	}
	s.Every = intervalDuration(every)
	s.CatchUp, s.Overlap, s.LastOutcome = CatchUp(catchUp), Overlap(overlap), TickOutcome(outcome)
	if runState != nil {
		st := RunState(*runState)
		s.LastRunState = &st
	}
	return &s, nil
}

func getSchedule(ctx context.Context, q querier, name string, owner *string) (*ScheduleInfo, error) {
	s, err := scanSchedule(q.QueryRow(ctx, "SELECT "+scheduleColumns+" FROM flow.schedules WHERE owner = coalesce($2, flow.caller()) AND name = $1",
		name, owner))
	if errors.Is(err, ErrScheduleNotFound) {
		return nil, fmt.Errorf("schedule %q: %w", name, err)
	}
	return s, err
}

func getScheduleByID(ctx context.Context, q querier, id int64) (*ScheduleInfo, error) {
	return scanSchedule(q.QueryRow(ctx, "SELECT "+scheduleColumns+" FROM flow.schedules WHERE id = $1", id))
}

// intervalDuration is a schedule's every as a duration (flow.schedule's
// check allows no months; a day is 24 hours).
func intervalDuration(i pgtype.Interval) time.Duration {
	if !i.Valid {
		return 0
	}
	return time.Duration(i.Microseconds+int64(i.Days)*86_400_000_000) * time.Microsecond
}

// scheduleError turns the schedule functions' errors into the package's:
// not found (P0002), exists (23505), an invalid schedule (22023 "invalid
// schedule: ..."), and a spec's or a role's refusal (see asSpecError).
func scheduleError(err error, name string) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "P0002" && strings.Contains(pgErr.Message, "schedule"):
		return fmt.Errorf("schedule %q: %w", name, ErrScheduleNotFound)
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && strings.HasPrefix(pgErr.Message, "htdag: schedule"):
		return fmt.Errorf("schedule %q: %w", name, ErrScheduleExists)
	case errors.As(err, &pgErr) && pgErr.Code == "22023" && strings.HasPrefix(pgErr.Message, scheduleErrorPrefix):
		return &ScheduleError{Problem: strings.TrimPrefix(pgErr.Message, scheduleErrorPrefix)}
	}
	return asSpecError(err)
}
