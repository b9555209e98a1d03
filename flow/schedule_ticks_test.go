package flow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mustTicks(t *testing.T, expr string, every time.Duration, tz string) ticks {
	t.Helper()
	tk, err := parseTicks(expr, every, tz)
	require.NoError(t, err)
	return tk
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// A cron expression is read on its time zone's wall clock, across a change
// of daylight saving time.
func TestCronTicksFollowTheTimeZone(t *testing.T) {
	t.Parallel()
	paris := mustTicks(t, "0 3 * * *", 0, "Europe/Paris")
	// 3:00 in Paris is 01:00 UTC in summer, 02:00 UTC in winter; DST ended
	// on 2026-10-25.
	require.Equal(t, utc("2026-10-24T01:00:00Z"), paris.after(utc("2026-10-23T12:00:00Z")))
	require.Equal(t, utc("2026-10-25T02:00:00Z"), paris.after(utc("2026-10-24T01:00:00Z")))
	// Default UTC; seconds first with 6 fields; descriptors.
	require.Equal(t, utc("2026-10-24T03:00:00Z"), mustTicks(t, "0 3 * * *", 0, "").after(utc("2026-10-23T12:00:00Z")))
	require.Equal(t, utc("2026-10-23T12:00:15Z"), mustTicks(t, "*/15 * * * * *", 0, "UTC").after(utc("2026-10-23T12:00:00.5Z")))
	require.Equal(t, utc("2026-10-23T13:00:00Z"), mustTicks(t, "@hourly", 0, "UTC").after(utc("2026-10-23T12:00:00Z")))
}

// After an outage, the due tick is the latest one at or before now, and the
// next is the first after now; computing it takes few steps even when the
// outage spans millions of per-second ticks.
func TestDueTickAfterAnOutage(t *testing.T) {
	t.Parallel()
	now := utc("2026-11-27T10:17:42.250Z")
	cases := []struct {
		name             string
		ticks            ticks
		seen             string
		wantTick, wantNx string
	}{
		{"every minute, 2 hours down", mustTicks(t, "* * * * *", 0, "UTC"), "2026-11-27T08:00:00Z", "2026-11-27T10:17:00Z", "2026-11-27T10:18:00Z"},
		{"every second, 60 days down", mustTicks(t, "* * * * * *", 0, "UTC"), "2026-09-28T00:00:00Z", "2026-11-27T10:17:42Z", "2026-11-27T10:17:43Z"},
		{"yearly, 3 years down", mustTicks(t, "@yearly", 0, "UTC"), "2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"on time", mustTicks(t, "*/5 * * * *", 0, "UTC"), "2026-11-27T10:15:00Z", "2026-11-27T10:15:00Z", "2026-11-27T10:20:00Z"},
		{"every 10 minutes, 35 minutes down", mustTicks(t, "", 10*time.Minute, ""), "2026-11-27T09:42:42.25Z", "2026-11-27T10:12:42.25Z", "2026-11-27T10:22:42.25Z"},
		{"every 1.5 s, exactly on a tick", mustTicks(t, "", 1500*time.Millisecond, "UTC"), "2026-11-27T10:17:40.75Z", "2026-11-27T10:17:42.25Z", "2026-11-27T10:17:43.75Z"},
	}
	for _, c := range cases {
		seen := utc(c.seen)
		start := time.Now()
		tick, next, err := dueTick(c.ticks, &seen, time.Time{}, now)
		require.NoError(t, err, c.name)
		require.Less(t, time.Since(start), time.Second, c.name)
		require.NotNil(t, tick, c.name)
		require.Equal(t, utc(c.wantTick), *tick, c.name)
		require.Equal(t, utc(c.wantNx), next, c.name)
	}

	// Not due yet; not computed yet (the first tick after base).
	seen := utc("2026-11-27T10:18:00Z")
	tick, next, err := dueTick(mustTicks(t, "* * * * *", 0, "UTC"), &seen, time.Time{}, now)
	require.NoError(t, err)
	require.Nil(t, tick)
	require.Equal(t, seen, next)
	tick, next, err = dueTick(mustTicks(t, "", time.Hour, ""), nil, now.Add(-10*time.Minute), now)
	require.NoError(t, err)
	require.Nil(t, tick)
	require.Equal(t, now.Add(50*time.Minute), next)
	tick, next, err = dueTick(mustTicks(t, "*/5 * * * *", 0, "UTC"), nil, utc("2026-11-27T09:58:00Z"), now)
	require.NoError(t, err, "created from SQL at 09:58, first computed at 10:17: its ticks since are due")
	require.Equal(t, utc("2026-11-27T10:15:00Z"), *tick)
	require.Equal(t, utc("2026-11-27T10:20:00Z"), next)

	// An expression that matches no date.
	_, _, err = dueTick(mustTicks(t, "0 0 30 2 *", 0, "UTC"), nil, now, now)
	require.ErrorIs(t, err, errNeverTicks)
}

// Bad timing is refused naming what is wrong.
func TestParseTicksNamesTheProblem(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		expr  string
		every time.Duration
		tz    string
		want  string
	}{
		{"61 * * * *", 0, "", `cron "61 * * * *": end of range (61) above maximum (59)`},
		{"0 3 * *", 0, "", `cron "0 3 * *": expected 5 to 6 fields, found 4`},
		{"@fortnightly", 0, "", `cron "@fortnightly": unrecognized descriptor`},
		{"CRON_TZ=Europe/Paris 0 3 * * *", 0, "", "give the time zone as time_zone"},
		{"TZ=Europe/Paris", 0, "", "give the time zone as time_zone"},
		{"@every 5s", 0, "", "for a fixed interval, give every instead"},
		{"0 3 * * *", 0, "Mars/Olympus", `time_zone "Mars/Olympus": not an IANA time zone name`},
		{"0 3 * * *", 0, "Local", `time_zone "Local": not an IANA time zone name`},
		{"", 0, "", "give either a cron expression or an interval"},
		{"* * * * *", time.Minute, "", "not both"},
		{"", 500 * time.Millisecond, "", "every 500ms: at least 1 second"},
		{"", time.Minute, "Europe/Paris", "time_zone applies to cron schedules only"},
	} {
		_, err := parseTicks(c.expr, c.every, c.tz)
		require.ErrorContains(t, err, c.want, "%q every %s in %q", c.expr, c.every, c.tz)
	}
}
