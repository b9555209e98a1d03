package flow_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// With River's periodic fetch pushed an hour out, a run can only make progress
// if flow.start and the release trigger wake the producers with NOTIFY. The
// run finishing within the test's deadline proves no step waited for a poll.
func TestNotifyWakesWorkersWithoutPolling(t *testing.T) {
	t.Parallel()
	b := setup(t)

	config := riverConfig(b.pool, newTestWorkers())
	config.FetchPollInterval = time.Hour
	flowtest.StartRiver(t, b.pool, config)

	// A chain of 20 started from plain SQL, as a psql user would.
	nodes := []string{`{"id": "s0", "kind": "noop"}`}
	for i := 1; i < 20; i++ {
		nodes = append(nodes, fmt.Sprintf(`{"id": "s%d", "kind": "noop", "deps": ["s%d"]}`, i, i-1))
	}
	runID := b.startSQL(t, `{"name": "chain", "nodes": [`+strings.Join(nodes, ",")+`]}`)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State, "a wake-up was lost and workers waited for the hourly poll")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Each wake-up says how many jobs its transaction has made available so far
// ("n", which a fleet reads to choose how many workers fetch): a StartMany of
// three one-root runs sends three notifications (equal payloads would
// arrive as one), and a release counts every child it makes available.
func TestNotifySaysHowManyJobsBecameAvailable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(b.ctx, `LISTEN "public.river_insert"`)
	require.NoError(t, err)
	next := func() string {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		n, err := conn.Conn().WaitForNotification(ctx)
		require.NoError(t, err)
		return n.Payload
	}

	one := flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	_, err = b.flow.StartMany(b.ctx, one, one, one)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		require.JSONEq(t, fmt.Sprintf(`{"queue": "default", "n": %d}`, i), next())
	}

	runID := b.startSQL(t, `{"nodes": [{"id": "root", "kind": "noop"},
		{"id": "c1", "kind": "noop", "deps": ["root"]}, {"id": "c2", "kind": "noop", "deps": ["root"]},
		{"id": "c3", "kind": "noop", "deps": ["root"]}]}`)
	require.JSONEq(t, `{"queue": "default", "n": 1}`, next())
	b.complete(t, runID, "root")
	require.JSONEq(t, `{"queue": "default", "n": 3}`, next(), "the release of three children")
}

// flow.notify_runnable's choice, against flow.worker rows of workers that
// are not running (seen "in the future", so that the test's pace does not
// matter): a one-job release NOTIFYs two workers with free slots on their own
// channels and never a full one; a release their free slots cannot cover, or
// a queue with a worker that does not report free slots (--wake-all, an older
// worker), wakes everyone on River's channel with "n".
func TestNotifyChoosesWorkersInSQL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []int64
	for i, free := range []string{`{"default": 0}`, `{"default": 1}`, `{"default": 1}`, `{"default": 1}`} {
		var id int64
		require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO flow.worker (client_id, host, pid, queues, free_slots, last_seen_at)
			VALUES ($1, 'h', 1, '{default}', $2, now() + interval '1 hour') RETURNING id`, fmt.Sprint("w", i), free).Scan(&id))
		ids = append(ids, id)
	}
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	channels := map[string]string{"public.river_insert": "everyone"}
	for i, id := range ids {
		channels[fmt.Sprint("public.htdag_wake_", id)] = fmt.Sprint("w", i)
	}
	for ch := range channels {
		_, err = conn.Exec(b.ctx, `LISTEN `+pgx.Identifier{ch}.Sanitize())
		require.NoError(t, err)
	}
	// collect returns who was woken, once every notification of the last
	// transaction arrived (a mark sent after it comes last).
	collect := func() map[string]string {
		t.Helper()
		_, err := b.pool.Exec(b.ctx, `SELECT pg_notify('public.river_insert', 'mark')`)
		require.NoError(t, err)
		got := map[string]string{}
		for {
			ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
			n, err := conn.Conn().WaitForNotification(ctx)
			cancel()
			require.NoError(t, err)
			if n.Payload == "mark" {
				return got
			}
			got[channels[n.Channel]] = n.Payload
		}
	}

	// heard starts a run and returns who was woken.
	heard := func(spec string) map[string]string {
		t.Helper()
		b.startSQL(t, spec)
		return collect()
	}
	one := `{"nodes": [{"id": "a", "kind": "noop"}]}`
	for range 6 {
		got := heard(one)
		require.Len(t, got, 2, "a one-job release wakes two workers: %v", got)
		require.NotContains(t, got, "w0", "the full worker")
		require.NotContains(t, got, "everyone")
		for _, payload := range got {
			require.JSONEq(t, `{"queue": "default"}`, payload)
		}
	}

	five := `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"}, {"id": "c", "kind": "noop"},
		{"id": "d", "kind": "noop"}, {"id": "e", "kind": "noop"}]}`
	require.Equal(t, map[string]string{"everyone": `{"queue" : "default", "n" : 5}`}, heard(five),
		"three free slots cannot cover five jobs")

	// Released by a worker's completion (htdag's completer names it): that
	// worker is woken first, even one that reported no free slot (its node
	// just freed one), and one more.
	releasedBy := func(worker int64) map[string]string {
		t.Helper()
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer tx.Rollback(b.ctx) //nolint:errcheck
		_, err = tx.Exec(b.ctx, `SELECT set_config('flow.releasing_worker', $1::bigint::text, true)`, worker)
		require.NoError(t, err)
		_, err = tx.Exec(b.ctx, `SELECT flow.start($1::jsonb)`, one)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(b.ctx))
		return collect()
	}
	for _, i := range []int{0, 2, 3} {
		for range 3 {
			got := releasedBy(ids[i])
			require.Len(t, got, 2, "the releasing worker and one more: %v", got)
			require.Contains(t, got, fmt.Sprint("w", i), "the releasing worker is woken")
		}
	}

	_, err = b.pool.Exec(b.ctx, `UPDATE flow.worker SET free_slots = NULL WHERE id = $1`, ids[1])
	require.NoError(t, err)
	require.Equal(t, map[string]string{"everyone": `{"queue" : "default", "n" : 1}`}, heard(one),
		"a worker that does not report free slots hears only River's channel")
}
