package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/internal/render"
)

const noopSpec = `{"nodes": [{"id": "a", "kind": "noop"}]}`

// The acceptance of schedules: an every-second schedule fired by five
// `worker run` processes for 20 s starts 20 ± 1 runs, one per tick.
func TestScheduleFiveWorkersTwentySeconds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := flowtest.NewPool(t)
	for range 5 {
		startWorker(t, pool)
	}
	res := cli(t, noopSpec, db(pool, "schedule", "add", "every-second", "-", "--every", "1s", "--overlap", "allow", "--json")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var doc render.ScheduleDoc
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc))
	require.NotNil(t, doc.NextAt)
	first := *doc.NextAt

	require.Eventually(t, func() bool {
		var last *time.Time
		require.NoError(t, pool.QueryRow(ctx, "SELECT max(tick_at) FROM flow.schedule_tick WHERE schedule_id = $1", doc.ID).Scan(&last))
		return last != nil && !last.Before(first.Add(20*time.Second))
	}, 60*time.Second, 100*time.Millisecond)
	res = cli(t, "", db(pool, "schedule", "pause", "every-second")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)

	var inWindow, ticks, distinctTicks, started, runs, firers int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE tick_at >= $2 AND tick_at < $2 + interval '20 seconds' AND outcome = 'started'),
		       count(*), count(DISTINCT tick_at), count(*) FILTER (WHERE outcome = 'started'),
		       (SELECT count(*) FROM flow.run WHERE name = 'every-second'), count(DISTINCT worker_id)
		  FROM flow.schedule_tick WHERE schedule_id = $1`, doc.ID, first).
		Scan(&inWindow, &ticks, &distinctTicks, &started, &runs, &firers))
	t.Logf("20 s: %d runs; %d ticks in all, fired by %d of the 5 workers", inWindow, ticks, firers)
	require.InDelta(t, 20, inWindow, 1)
	require.Equal(t, ticks, distinctTicks, "no tick twice")
	require.Equal(t, started, runs, "one run per started tick, none besides")
	require.Equal(t, ticks, started, "every tick started a run (overlap allow)")
}

// `worker schedule add|list|pause|resume|rm`: what they print, and their
// refusals (exit 1, naming the problem).
func TestScheduleCommands(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	run := func(stdin string, args ...string) cliResult {
		t.Helper()
		return cli(t, stdin, db(pool, append([]string{"schedule"}, args...)...)...)
	}
	res := run(noopSpec, "add", "nightly", "-", "--cron", "0 3 * * *", "--time-zone", "Europe/Paris")
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `^schedule "nightly" \(id \d+, owner postgres\): cron "0 3 \* \* \*" Europe/Paris; next tick 20\d\d-\d\d-\d\d 0[12]:00:00 UTC \(in .+\)\n$`, res.stdout)
	res = run(noopSpec, "add", "poll", "-", "--every", "90s", "--catch-up", "skip", "--overlap", "allow", "--paused")
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Contains(t, res.stdout, "every 1m30s; paused")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "nightly", "-", "--cron", "0 4 * * *"}, `schedule "nightly": schedule already exists (--replace replaces it)`},
		{[]string{"add", "bad", "-", "--cron", "0 3 * * 8"}, `schedule "bad": invalid schedule: cron "0 3 * * 8": end of range (8) above maximum (6)`},
		{[]string{"add", "bad", "-", "--cron", "0 3 * * *", "--time-zone", "Europe/Pariss"}, `time_zone "Europe/Pariss": not an IANA time zone name`},
		{[]string{"add", "bad", "-", "--every", "1s", "--overlap", "queue"}, `invalid schedule: overlap "queue": want skip or allow`},
		{[]string{"pause", "nope"}, `schedule "nope": schedule not found`},
	} {
		res = run(noopSpec, c.args...)
		require.Equal(t, 1, res.code, "%v: stdout %s stderr %s", c.args, res.stdout, res.stderr)
		require.Contains(t, res.stderr, c.want, "%v", c.args)
	}
	res = run(`{"nodes": [{"id": "a", "kind": "noop", "deps": ["zz"]}]}`, "add", "bad", "-", "--every", "1m")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `worker: stdin: invalid workflow spec: node "a" depends on unknown node "zz"`)

	res = run("", "list")
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Len(t, lines, 3)
	require.Regexp(t, `^NAME\s+OWNER\s+WHEN\s+CATCH-UP\s+OVERLAP\s+STATE\s+NEXT\s+LAST TICK\s+LAST RUN$`, lines[0])
	require.Regexp(t, `^nightly\s+postgres\s+cron "0 3 \* \* \*" Europe/Paris\s+once\s+skip\s+active\s+20\S+ 0[12]:00:00 UTC \(in \S+\)\s+-\s+-$`, lines[1])
	require.Regexp(t, `^poll\s+postgres\s+every 1m30s\s+skip\s+allow\s+paused\s+-\s+-\s+-$`, lines[2])

	for _, c := range [][2]string{
		{"pause nightly", `paused schedule "nightly"`},
		{"pause nightly", `schedule "nightly" was already paused`},
		{"resume nightly", `resumed schedule "nightly"`},
		{"resume poll", `resumed schedule "poll"`},
		{"resume poll", `schedule "poll" was not paused`},
		{"rm poll", `removed schedule "poll"`},
	} {
		res = run("", strings.Fields(c[0])...)
		require.Equal(t, 0, res.code, "%s: stderr %s", c[0], res.stderr)
		require.Equal(t, c[1]+"\n", res.stdout, c[0])
	}

	res = run("", "list", "--json")
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var docs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &docs))
	require.Len(t, docs, 1)
	require.Equal(t, "nightly", docs[0]["name"])
	require.Equal(t, "0 3 * * *", docs[0]["cron"])
	require.Equal(t, "Europe/Paris", docs[0]["time_zone"])
	require.Equal(t, false, docs[0]["paused"])
	require.Equal(t, "nightly", docs[0]["spec"].(map[string]any)["name"])
	require.NotContains(t, docs[0], "every")
}
