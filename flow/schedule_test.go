package flow_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// tickRow is one row of flow.schedule_tick, with its run's times.
type tickRow struct {
	TickAt     time.Time
	Outcome    string
	RunID      *int64
	Error      *string
	WorkerID   *int64
	CreatedAt  *time.Time // of the run the tick started
	FinishedAt *time.Time
}

// scheduleTicks returns a schedule's ticks in order.
func (b *testBundle) scheduleTicks(t *testing.T, scheduleID int64) []tickRow {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT t.tick_at, t.outcome, t.run_id, t.error, t.worker_id,
		       CASE WHEN t.outcome = 'started' THEN r.created_at END, CASE WHEN t.outcome = 'started' THEN r.finished_at END
		  FROM flow.schedule_tick t LEFT JOIN flow.run r ON r.id = t.run_id
		 WHERE t.schedule_id = $1 ORDER BY t.tick_at`, scheduleID)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tickRow, error) {
		var r tickRow
		err := row.Scan(&r.TickAt, &r.Outcome, &r.RunID, &r.Error, &r.WorkerID, &r.CreatedAt, &r.FinishedAt)
		return r, err
	})
	require.NoError(t, err)
	return out
}

// scheduleRuns counts the runs that bear a schedule's name.
func (b *testBundle) scheduleRuns(t *testing.T, name string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM flow.run WHERE name = $1", name).Scan(&n))
	return n
}

// setNextAt moves a schedule's next tick, as an outage would leave it.
func (b *testBundle) setNextAt(t *testing.T, scheduleID int64, at string) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, "UPDATE flow.schedule SET next_at = "+at+" WHERE id = $1", scheduleID)
	require.NoError(t, err)
}

const noopSpec = `{"nodes": [{"id": "a", "kind": "noop"}]}`

// Five fleet members fire an every-second schedule: each tick starts one
// run, the ticks follow each other a second apart, and no run is started
// outside a tick.
func TestScheduleFiresEachTickOnceAcrossTheFleet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	for range 5 {
		flowtest.JoinFleet(t, b.pool, nil)
	}
	s, err := b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "every-second", Every: time.Second,
		Spec: flow.JSONSpec(noopSpec), Overlap: flow.OverlapAllow})
	require.NoError(t, err)
	require.NotNil(t, s.NextAt)
	first := *s.NextAt

	require.Eventually(t, func() bool {
		ticks := b.scheduleTicks(t, s.ID)
		return len(ticks) > 0 && ticks[len(ticks)-1].TickAt.Sub(first) >= 6*time.Second
	}, 30*time.Second, 50*time.Millisecond)
	_, err = b.flow.PauseSchedule(b.ctx, "every-second")
	require.NoError(t, err)

	ticks := b.scheduleTicks(t, s.ID)
	seen := map[int64]bool{}
	for _, tk := range ticks {
		require.Equal(t, "started", tk.Outcome, "tick %s", tk.TickAt)
		require.False(t, seen[*tk.RunID], "run %d started by two ticks", *tk.RunID)
		seen[*tk.RunID] = true
		require.Zero(t, tk.TickAt.Sub(first)%time.Second, "tick %s: whole seconds after the first", tk.TickAt)
	}
	require.Equal(t, len(ticks), b.scheduleRuns(t, "every-second"), "every run of the schedule is a tick's")
	// A member more than a second late (a loaded machine) fires the latest
	// due tick only: at most one such gap is tolerated.
	span := int(ticks[len(ticks)-1].TickAt.Sub(first)/time.Second) + 1
	require.GreaterOrEqual(t, len(ticks), span-1, "ticks from the first to the last: %d of %d", len(ticks), span)
	require.GreaterOrEqual(t, span, 7)
}

// Ten members fire the same due tick at the same instant, twenty times over:
// each tick starts exactly one run.
func TestScheduleFireIsExactlyOnceUnderContention(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, err := b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "contended", Every: time.Hour,
		Spec: flow.JSONSpec(noopSpec), Overlap: flow.OverlapAllow})
	require.NoError(t, err)
	const rounds, members = 20, 10
	for round := range rounds {
		// A tick due a little more in the past each round: a new tick.
		b.setNextAt(t, s.ID, fmt.Sprintf("now() - interval '%d minutes'", 40-round))
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, members)
		for m := range members {
			wg.Go(func() {
				<-start
				errs[m] = flow.FireSchedules(b.ctx, b.pool, int64(m+1))
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, b.scheduleTicks(t, s.ID), round+1, "round %d", round)
		require.Equal(t, round+1, b.scheduleRuns(t, "contended"), "round %d", round)
	}
	workers := map[int64]bool{}
	for _, tk := range b.scheduleTicks(t, s.ID) {
		workers[*tk.WorkerID] = true
	}
	t.Logf("%d rounds fired by %d different members", rounds, len(workers))
}

// Overlap skip: with runs of 3 s and a tick every second, a run starts only
// once the previous one finished; the ticks between start nothing. Overlap
// allow, alongside: runs overlap.
func TestScheduleOverlap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	flowtest.JoinFleet(t, b.pool, nil)
	flowtest.JoinFleet(t, b.pool, nil)
	sleep3s := `{"nodes": [{"id": "s", "kind": "sleep", "args": {"ms": 3000}}]}`
	skip, err := b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "skip", Every: time.Second, Spec: flow.JSONSpec(sleep3s)})
	require.NoError(t, err)
	require.Equal(t, flow.OverlapSkip, skip.Overlap, "the default")
	allow, err := b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "allow", Every: time.Second, Spec: flow.JSONSpec(sleep3s),
		Overlap: flow.OverlapAllow})
	require.NoError(t, err)

	finished := func(ticks []tickRow) int {
		n := 0
		for _, tk := range ticks {
			if tk.FinishedAt != nil {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return finished(b.scheduleTicks(t, skip.ID)) >= 3 }, 40*time.Second, 100*time.Millisecond)
	for _, name := range []string{"skip", "allow"} {
		_, err = b.flow.PauseSchedule(b.ctx, name)
		require.NoError(t, err)
	}

	// Skip: each started run began after the one before had finished, by
	// the run's times and by its job's.
	var started []tickRow
	overlaps := 0
	for _, tk := range b.scheduleTicks(t, skip.ID) {
		switch tk.Outcome {
		case "started":
			started = append(started, tk)
		case "overlap":
			overlaps++
			require.Equal(t, *started[len(started)-1].RunID, *tk.RunID, "held back by the last run")
		default:
			t.Fatalf("tick %s: %s", tk.TickAt, tk.Outcome)
		}
	}
	require.GreaterOrEqual(t, overlaps, 3*2, "two or three ticks skipped per 3 s run")
	for i := 1; i < len(started); i++ {
		prev, cur := started[i-1], started[i]
		require.NotNil(t, prev.FinishedAt)
		require.False(t, cur.CreatedAt.Before(*prev.FinishedAt), "run %d started at %s, before run %d finished at %s",
			*cur.RunID, cur.CreatedAt, *prev.RunID, *prev.FinishedAt)
	}
	var jobOverlaps int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM river_job a JOIN river_job b ON a.id < b.id
		 WHERE a.metadata ->> 'flow_run' IN (SELECT run_id::text FROM flow.schedule_tick WHERE schedule_id = $1 AND outcome = 'started')
		   AND b.metadata ->> 'flow_run' IN (SELECT run_id::text FROM flow.schedule_tick WHERE schedule_id = $1 AND outcome = 'started')
		   AND b.attempted_at < coalesce(a.finalized_at, 'infinity')`, skip.ID).Scan(&jobOverlaps))
	require.Zero(t, jobOverlaps, "no two of the schedule's nodes ran at once")

	// Allow: a run at every tick, several running at once.
	allowTicks := b.scheduleTicks(t, allow.ID)
	concurrent := false
	for i, tk := range allowTicks {
		require.Equal(t, "started", tk.Outcome)
		if i > 0 && (allowTicks[i-1].FinishedAt == nil || tk.CreatedAt.Before(*allowTicks[i-1].FinishedAt)) {
			concurrent = true
		}
	}
	require.True(t, concurrent)
	require.Greater(t, len(allowTicks), len(started))
}

// Ticks missed while no worker ran: catch_up once starts one run, for the
// latest missed tick; skip starts none. Either way the schedule goes on
// from its next tick after now.
func TestScheduleMissedTicks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	create := func(s flow.Schedule) *flow.ScheduleInfo {
		s.Spec = flow.JSONSpec(noopSpec)
		info, err := b.flow.CreateSchedule(b.ctx, s)
		require.NoError(t, err)
		return info
	}
	once := create(flow.Schedule{Name: "once", Every: 10 * time.Minute})
	skip := create(flow.Schedule{Name: "skip", Every: 10 * time.Minute, CatchUp: flow.CatchUpSkip})
	cron := create(flow.Schedule{Name: "cron", Cron: "*/5 * * * *"})
	// The fleet was down: the ticks at -35, -25, -15 and -5 minutes went by
	// (and for cron, every 5 minutes of the last two hours).
	var base time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT date_trunc('second', now())").Scan(&base))
	for _, s := range []*flow.ScheduleInfo{once, skip} {
		b.setNextAt(t, s.ID, fmt.Sprintf("'%s'::timestamptz - interval '35 minutes'", base.Format(time.RFC3339)))
	}
	b.setNextAt(t, cron.ID, "date_trunc('hour', now()) - interval '2 hours'")

	flowtest.JoinFleet(t, b.pool, nil) // recovery
	require.Eventually(t, func() bool {
		for _, s := range []*flow.ScheduleInfo{once, skip, cron} {
			if len(b.scheduleTicks(t, s.ID)) == 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond)

	onceTicks := b.scheduleTicks(t, once.ID)
	require.Len(t, onceTicks, 1)
	require.Equal(t, "started", onceTicks[0].Outcome)
	require.Equal(t, base.Add(-5*time.Minute), onceTicks[0].TickAt, "the latest missed tick")
	require.Equal(t, 1, b.scheduleRuns(t, "once"))

	skipTicks := b.scheduleTicks(t, skip.ID)
	require.Len(t, skipTicks, 1)
	require.Equal(t, "missed", skipTicks[0].Outcome)
	require.Zero(t, b.scheduleRuns(t, "skip"))

	cronTicks := b.scheduleTicks(t, cron.ID)
	require.Len(t, cronTicks, 1)
	require.Equal(t, "started", cronTicks[0].Outcome)
	require.Zero(t, cronTicks[0].TickAt.Minute()%5)
	require.Equal(t, 1, b.scheduleRuns(t, "cron"))

	for _, s := range []*flow.ScheduleInfo{once, skip, cron} {
		now, err := b.flow.GetSchedule(b.ctx, s.Name)
		require.NoError(t, err)
		require.Equal(t, now.LastTickAt.Add(map[string]time.Duration{"once": 10 * time.Minute, "skip": 10 * time.Minute,
			"cron": 5 * time.Minute}[s.Name]), *now.NextAt, "%s: on from the tick after the latest", s.Name)
		require.Equal(t, flow.TickOutcome(map[string]string{"once": "started", "skip": "missed", "cron": "started"}[s.Name]), now.LastOutcome)
	}
}

// Bad timing is refused before anything is written, naming what is wrong;
// an expression inserted from SQL that the fleet's parser refuses pauses its
// schedule, saying why.
func TestScheduleRefusesBadTiming(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spec := flow.JSONSpec(noopSpec)
	for _, c := range []struct {
		s    flow.Schedule
		want string
	}{
		{flow.Schedule{Name: "a", Cron: "61 * * * *", Spec: spec}, `invalid schedule: cron "61 * * * *": end of range (61) above maximum (59)`},
		{flow.Schedule{Name: "a", Cron: "0 3 * * *", TimeZone: "Europe/Pariss", Spec: spec}, `time_zone "Europe/Pariss": not an IANA time zone name`},
		{flow.Schedule{Name: "a", Cron: "0 0 30 2 *", Spec: spec}, `cron "0 0 30 2 *": the expression matches no time in the next five years`},
		{flow.Schedule{Name: "a", Cron: "@every 1m", Spec: spec}, "for a fixed interval, give every instead"},
		{flow.Schedule{Name: "a", Every: time.Minute, CatchUp: "twice", Spec: spec}, `invalid schedule: catch_up "twice": want once or skip`},
		{flow.Schedule{Name: "a b", Every: time.Minute, Spec: spec}, `invalid schedule: name "a b": use 1 to 128 characters`},
	} {
		_, err := b.flow.CreateSchedule(b.ctx, c.s)
		var schedErr *flow.ScheduleError
		require.ErrorAs(t, err, &schedErr, c.want)
		require.ErrorContains(t, err, c.want)
	}
	_, err := b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "a", Every: time.Minute,
		Spec: flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop", "deps": ["x"]}]}`)})
	var specErr *flow.SpecError
	require.ErrorAs(t, err, &specErr)
	require.Contains(t, specErr.Problem, `node "a" depends on unknown node "x"`)
	list, err := b.flow.ListSchedules(b.ctx)
	require.NoError(t, err)
	require.Empty(t, list, "nothing written")

	// From SQL: the fleet computes a cron schedule's first tick; an
	// expression whose shape passes and the parser refuses pauses it.
	_, err = b.pool.Exec(b.ctx, `SELECT flow.schedule_create('sql-ok', $1, cron => '*/5 * * * *', time_zone => 'Asia/Kolkata')`, noopSpec)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `SELECT flow.schedule_create('sql', $1, cron => '0 25 * * *')`, noopSpec)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `SELECT flow.schedule_create('sql', $1, cron => '0 3 * *')`, noopSpec)
	requireSQLState(t, err, "22023", `invalid schedule: cron "0 3 * *": want 5 fields`)
	flowtest.JoinFleet(t, b.pool, nil)
	require.Eventually(t, func() bool {
		ok, err := b.flow.GetSchedule(b.ctx, "sql-ok")
		require.NoError(t, err)
		s, err := b.flow.GetSchedule(b.ctx, "sql")
		require.NoError(t, err)
		return s.Paused && ok.NextAt != nil
	}, 10*time.Second, 20*time.Millisecond)
	ok, err := b.flow.GetSchedule(b.ctx, "sql-ok")
	require.NoError(t, err)
	require.False(t, ok.Paused)
	require.True(t, ok.NextAt.After(ok.CreatedAt))
	require.LessOrEqual(t, ok.NextAt.Sub(ok.CreatedAt), 5*time.Minute)
	require.Zero(t, ok.NextAt.Second())
	require.Zero(t, ok.NextAt.Minute()%5, "a multiple of 5 minutes in Kolkata (UTC+5:30) is one in UTC too")
	s, err := b.flow.GetSchedule(b.ctx, "sql")
	require.NoError(t, err)
	require.Equal(t, `invalid schedule: cron "0 25 * * *": end of range (25) above maximum (23): 25`, s.LastError)
	require.Nil(t, s.NextAt)

	// Replaced with a good expression and resumed, it runs on.
	_, err = b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "sql", Cron: "0 23 * * *", Spec: spec, Paused: true, Replace: true})
	require.NoError(t, err)
	resumed, err := b.flow.ResumeSchedule(b.ctx, "sql")
	require.NoError(t, err)
	require.True(t, resumed)
	s, err = b.flow.GetSchedule(b.ctx, "sql")
	require.NoError(t, err)
	require.False(t, s.Paused)
	require.Empty(t, s.LastError)
	require.Equal(t, 23, s.NextAt.UTC().Hour())
}

// A paused schedule fires nothing; resumed, it goes on from its next tick
// after now, the ticks of the pause not started (an interval keeps its
// rhythm). Replacing a schedule keeps its history; deleting removes it.
func TestSchedulePauseResumeReplaceDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, err := b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "hourly", Every: time.Hour, Spec: flow.JSONSpec(noopSpec)})
	require.NoError(t, err)
	require.False(t, s.Paused)
	require.Equal(t, "hourly", s.Name)
	require.JSONEq(t, `{"name": "hourly", "nodes": [{"id": "a", "kind": "noop"}]}`, string(s.Spec), "named after the schedule")
	_, err = b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "hourly", Every: time.Hour, Spec: flow.JSONSpec(noopSpec)})
	require.ErrorIs(t, err, flow.ErrScheduleExists)

	var due time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, "UPDATE flow.schedule SET next_at = now() - interval '10 minutes' WHERE id = $1 RETURNING next_at", s.ID).Scan(&due))
	paused, err := b.flow.PauseSchedule(b.ctx, "hourly")
	require.NoError(t, err)
	require.True(t, paused)
	paused, err = b.flow.PauseSchedule(b.ctx, "hourly")
	require.NoError(t, err)
	require.False(t, paused, "already paused")
	require.NoError(t, flow.FireSchedules(b.ctx, b.pool, 1))
	require.Empty(t, b.scheduleTicks(t, s.ID))

	resumed, err := b.flow.ResumeSchedule(b.ctx, "hourly")
	require.NoError(t, err)
	require.True(t, resumed)
	s, err = b.flow.GetSchedule(b.ctx, "hourly")
	require.NoError(t, err)
	require.Equal(t, due.Add(time.Hour), *s.NextAt, "the next tick of its rhythm after now")
	require.NoError(t, flow.FireSchedules(b.ctx, b.pool, 1))
	require.Empty(t, b.scheduleTicks(t, s.ID), "the tick of the pause starts nothing")

	// Fire one tick, then replace: the history stays, the timing changes.
	b.setNextAt(t, s.ID, "now() - interval '1 second'")
	require.NoError(t, flow.FireSchedules(b.ctx, b.pool, 1))
	require.Len(t, b.scheduleTicks(t, s.ID), 1)
	replaced, err := b.flow.CreateSchedule(b.ctx, flow.Schedule{Name: "hourly", Cron: "30 * * * *", Spec: flow.JSONSpec(noopSpec), Replace: true})
	require.NoError(t, err)
	require.Equal(t, s.ID, replaced.ID)
	require.Equal(t, "30 * * * *", replaced.Cron)
	require.Zero(t, replaced.Every)
	require.Equal(t, 30, replaced.NextAt.Minute())
	require.Equal(t, flow.TickStarted, replaced.LastOutcome)
	require.NotNil(t, replaced.LastRunID)
	require.Len(t, b.scheduleTicks(t, s.ID), 1)

	require.NoError(t, b.flow.DeleteSchedule(b.ctx, "hourly"))
	require.ErrorIs(t, b.flow.DeleteSchedule(b.ctx, "hourly"), flow.ErrScheduleNotFound)
	_, err = b.flow.GetSchedule(b.ctx, "hourly")
	require.ErrorIs(t, err, flow.ErrScheduleNotFound)
	require.Empty(t, b.scheduleTicks(t, s.ID), "its ticks went with it")
	require.Equal(t, 1, b.scheduleRuns(t, "hourly"), "its run stays")
}

// A schedule is its owner's: its runs are the owner's, with the owner's
// grants; a starter sees and manages its roles' schedules only, cannot
// create one for a role it is not a member of, read the tables or fire
// ticks; an admin manages every schedule.
func TestSchedulePrivileges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	teamA := b.newRole(t, "team_a", false)
	teamB := b.newRole(t, "team_b", false)
	b.grantKind(t, teamA, "noop")
	b.grantKind(t, teamA, "echo")
	b.grantKind(t, teamB, "noop")
	aliceName, alice := b.loginAs(t, "alice", "flow_starter", teamA)
	_, alice2 := b.loginAs(t, "alice2", "flow_starter", "flow_reader", teamA)
	_, bob := b.loginAs(t, "bob", "flow_starter", teamB)
	_, admin := b.loginAs(t, "admin", "flow_admin")
	asAlice := flow.NewClient(alice, nil)
	asTeamA := flow.NewClient(alice, &flow.Config{Owner: teamA})

	mine, err := asAlice.CreateSchedule(b.ctx, flow.Schedule{Name: "mine", Every: time.Hour, Spec: flow.JSONSpec(noopSpec)})
	require.NoError(t, err)
	require.Equal(t, aliceName, mine.Owner)
	require.Equal(t, aliceName, mine.CreatedBy)
	shared, err := asTeamA.CreateSchedule(b.ctx, flow.Schedule{Name: "shared", Every: time.Hour, Overlap: flow.OverlapAllow,
		Spec: flow.JSONSpec(`{"nodes": [{"id": "e", "kind": "echo"}]}`)})
	require.NoError(t, err)
	require.Equal(t, teamA, shared.Owner)

	// Kinds and owners are checked at creation as flow.start checks them.
	_, err = flow.NewClient(bob, nil).CreateSchedule(b.ctx, flow.Schedule{Name: "x", Every: time.Hour,
		Spec: flow.JSONSpec(`{"nodes": [{"id": "e", "kind": "echo"}]}`)})
	var notAllowed *flow.NotAllowedError
	require.ErrorAs(t, err, &notAllowed)
	require.Contains(t, notAllowed.Reason, `may not start jobs of kind "echo"`)
	_, err = flow.NewClient(bob, &flow.Config{Owner: teamA}).CreateSchedule(b.ctx, flow.Schedule{Name: "x", Every: time.Hour,
		Spec: flow.JSONSpec(noopSpec)})
	require.ErrorAs(t, err, &notAllowed)
	require.Contains(t, notAllowed.Reason, "may not start runs owned by role")

	// Bob sees none of them, and to him they do not exist.
	list, err := flow.NewClient(bob, nil).ListSchedules(b.ctx)
	require.NoError(t, err)
	require.Empty(t, list)
	asBobForA := flow.NewClient(bob, &flow.Config{Owner: teamA})
	_, err = asBobForA.PauseSchedule(b.ctx, "shared")
	require.ErrorIs(t, err, flow.ErrScheduleNotFound)
	_, err = asBobForA.ResumeSchedule(b.ctx, "shared")
	require.ErrorIs(t, err, flow.ErrScheduleNotFound)
	require.ErrorIs(t, asBobForA.DeleteSchedule(b.ctx, "shared"), flow.ErrScheduleNotFound)
	_, err = asBobForA.CreateSchedule(b.ctx, flow.Schedule{Name: "shared", Every: time.Minute, Spec: flow.JSONSpec(noopSpec), Replace: true})
	require.ErrorAs(t, err, &notAllowed)
	var n int
	require.NoError(t, bob.QueryRow(b.ctx, "SELECT count(*) FROM flow.schedule_ticks").Scan(&n))
	require.Zero(t, n)
	_, err = bob.Exec(b.ctx, "SELECT * FROM flow.schedule")
	requireSQLState(t, err, "42501", "permission denied for table schedule")
	_, err = bob.Exec(b.ctx, "UPDATE flow.schedule SET next_at = now()")
	requireSQLState(t, err, "42501", "permission denied")
	_, err = bob.Exec(b.ctx, "SELECT flow.schedule_fire($1, NULL, now(), now() + interval '1 hour')", shared.ID)
	requireSQLState(t, err, "42501", "permission denied for function schedule_fire")

	// Another member of team_a sees and manages the team's schedule, not
	// Alice's own.
	list, err = flow.NewClient(alice2, nil).ListSchedules(b.ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "shared", list[0].Name)
	paused, err := flow.NewClient(alice2, &flow.Config{Owner: teamA}).PauseSchedule(b.ctx, "shared")
	require.NoError(t, err)
	require.True(t, paused)
	// An admin sees every schedule and manages any.
	list, err = flow.NewClient(admin, nil).ListSchedules(b.ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	resumed, err := flow.NewClient(admin, &flow.Config{Owner: teamA}).ResumeSchedule(b.ctx, "shared")
	require.NoError(t, err)
	require.True(t, resumed)

	// A tick's run is the owner's, visible to its members; once a kind is
	// no longer granted, a tick fails saying so and the schedule goes on.
	b.setNextAt(t, shared.ID, "now() - interval '1 second'")
	require.NoError(t, flow.FireSchedules(b.ctx, b.pool, 1))
	ticks := b.scheduleTicks(t, shared.ID)
	require.Len(t, ticks, 1)
	require.Equal(t, "started", ticks[0].Outcome)
	run, err := flow.NewClient(alice2, nil).GetRun(b.ctx, *ticks[0].RunID)
	require.NoError(t, err)
	require.Equal(t, teamA, run.Owner)
	_, err = b.pool.Exec(b.ctx, "DELETE FROM flow.kind_grant WHERE role = $1 AND pattern = 'echo'", teamA)
	require.NoError(t, err)
	b.setNextAt(t, shared.ID, "now() - interval '1 second'")
	require.NoError(t, flow.FireSchedules(b.ctx, b.pool, 1))
	ticks = b.scheduleTicks(t, shared.ID)
	require.Len(t, ticks, 2)
	require.Equal(t, "failed", ticks[1].Outcome)
	require.Contains(t, *ticks[1].Error, fmt.Sprintf(`role %q may not start jobs of kind "echo"`, teamA))
	s, err := asTeamA.GetSchedule(b.ctx, "shared")
	require.NoError(t, err)
	require.Equal(t, flow.TickFailed, s.LastOutcome)
	require.False(t, s.Paused)
	require.True(t, s.NextAt.After(time.Now().Add(50*time.Minute)))
	require.Equal(t, *ticks[0].RunID, *s.LastRunID, "the last run started")

	// What a starter reads of its ticks.
	require.NoError(t, alice2.QueryRow(b.ctx, "SELECT count(*) FROM flow.schedule_ticks WHERE owner = $1", teamA).Scan(&n))
	require.Equal(t, 2, n)
}
