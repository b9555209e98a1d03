package flow

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser reads schedules' cron expressions: 5 fields (minute hour
// day-of-month month day-of-week), or 6 with seconds first, or a descriptor
// (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ticks computes a schedule's ticks, as instants in UTC.
type ticks interface {
	// after is the first tick after t (t a tick, or, for the first one, the
	// instant the schedule was created or resumed); zero if there is none.
	after(t time.Time) time.Time
	// latest is the last tick at or before now, given a tick from <= now.
	latest(from, now time.Time) time.Time
}

// cronTicks are the instants whose wall clock in loc matches a cron
// expression.
type cronTicks struct {
	schedule cron.Schedule
	loc      *time.Location
}

func (c cronTicks) after(t time.Time) time.Time {
	next := c.schedule.Next(t.In(c.loc))
	if next.IsZero() {
		return next
	}
	return next.UTC()
}

// latest walks forward from a tick shortly before now rather than from
// from, which may be years of per-second ticks back (all workers down for a
// long time): it looks back 1 s, 2 s, 4 s... from now until a window holds
// a tick, so it takes about as many steps as ticks in twice the gap before
// the latest one.
func (c cronTicks) latest(from, now time.Time) time.Time {
	start := from
	for back := time.Second; ; back *= 2 {
		base := now.Add(-back)
		if !base.After(from) {
			break
		}
		if t := c.after(base); !t.IsZero() && !t.After(now) {
			start = t
			break
		}
	}
	for {
		next := c.after(start)
		if next.IsZero() || next.After(now) {
			return start
		}
		start = next
	}
}

// everyTicks are the instants a whole number of intervals after a first
// tick (a fixed length: a day is 24 hours).
type everyTicks struct{ every time.Duration }

func (e everyTicks) after(t time.Time) time.Time { return t.Add(e.every) }

func (e everyTicks) latest(from, now time.Time) time.Time {
	return from.Add(now.Sub(from) / e.every * e.every)
}

// dueTick works out what firing a schedule means at now (the database's
// clock): seen is its next_at (nil: not computed yet, the first tick is the
// first after base, when it was created or resumed). It returns the latest
// due tick (nil when none is due yet) and the tick after it, which becomes
// next_at.
func dueTick(t ticks, seen *time.Time, base, now time.Time) (tick *time.Time, next time.Time, err error) {
	first := base
	if seen != nil {
		first = *seen
	} else if first = t.after(base); first.IsZero() {
		return nil, time.Time{}, errNeverTicks
	}
	if first.After(now) {
		return nil, first, nil
	}
	latest := t.latest(first, now)
	if next = t.after(latest); next.IsZero() {
		return nil, time.Time{}, errNeverTicks
	}
	return &latest, next, nil
}

var errNeverTicks = fmt.Errorf("the expression matches no time in the next five years")

// parseTicks reads a schedule's timing: a cron expression in time zone tz
// (empty: UTC), or every. Its errors are problems for a *ScheduleError.
func parseTicks(expr string, every time.Duration, tz string) (ticks, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "" && every == 0:
		return nil, fmt.Errorf("give either a cron expression or an interval (every)")
	case expr != "" && every != 0:
		return nil, fmt.Errorf("give either a cron expression or an interval (every), not both")
	case every != 0:
		if every < time.Second {
			return nil, fmt.Errorf("every %s: at least 1 second", every)
		}
		if tz != "" && tz != "UTC" {
			return nil, fmt.Errorf("time_zone applies to cron schedules only (an interval is the same in every zone)")
		}
		return everyTicks{every: every.Truncate(time.Microsecond)}, nil
	}
	upper := strings.ToUpper(expr)
	if strings.HasPrefix(upper, "TZ=") || strings.HasPrefix(upper, "CRON_TZ=") {
		return nil, fmt.Errorf("cron %q: give the time zone as time_zone, not in the expression", expr)
	}
	if strings.HasPrefix(expr, "@every") {
		return nil, fmt.Errorf("cron %q: for a fixed interval, give every instead", expr)
	}
	if tz == "" {
		tz = "UTC"
	}
	// "Local" and "" are the host's zone in Go: a schedule must not tick by
	// whichever host fires it.
	if tz == "Local" || tz == "localtime" {
		return nil, fmt.Errorf("time_zone %q: not an IANA time zone name (such as UTC or Europe/Paris)", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time_zone %q: not an IANA time zone name (such as UTC or Europe/Paris): %w", tz, err)
	}
	schedule, err := parseCron(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", expr, err)
	}
	return cronTicks{schedule: schedule, loc: loc}, nil
}

// parseCron is cronParser.Parse, with a panic (robfig/cron has had some on
// odd input) turned into an error.
func parseCron(expr string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("unreadable expression (%v)", r)
		}
	}()
	return cronParser.Parse(expr)
}
