package flow_test

// The security model, attacked: each test logs in as a real role that has
// only the grants it names and tries what it must not be able to do.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// newRole creates a role (cluster-wide, so its name is random) that is a
// member of memberOf, with LOGIN when login is set; it is dropped when the
// test ends.
func (b *testBundle) newRole(t *testing.T, prefix string, login bool, memberOf ...string) string {
	t.Helper()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "htdag_t_" + prefix + "_" + hex.EncodeToString(suffix[:])
	sql := "CREATE ROLE " + name
	if login {
		sql += " LOGIN"
	}
	if len(memberOf) > 0 {
		sql += " IN ROLE " + strings.Join(memberOf, ", ")
	}
	_, err := b.pool.Exec(b.ctx, sql)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := b.pool.Exec(context.Background(), "DROP ROLE "+name)
		require.NoError(t, err)
	})
	return name
}

// loginAs creates a login role that is a member of memberOf and returns a
// pool on the test's database as that role (closed before the role is
// dropped).
func (b *testBundle) loginAs(t *testing.T, prefix string, memberOf ...string) (string, *pgxpool.Pool) {
	t.Helper()
	name := b.newRole(t, prefix, true, memberOf...)
	cfg := b.pool.Config().Copy()
	cfg.ConnConfig.User = name
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(b.ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return name, pool
}

// grantKind lets role's runs have kinds matching pattern (as an admin does).
func (b *testBundle) grantKind(t *testing.T, role, pattern string) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, "INSERT INTO flow.kind_grant (role, pattern) VALUES ($1, $2)", role, pattern)
	require.NoError(t, err)
}

func requireSQLState(t *testing.T, err error, code, contains string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "want SQLSTATE %s", code)
	require.Equal(t, code, pgErr.Code, "%v", err)
	require.Contains(t, pgErr.Message, contains)
}

func startAs(ctx context.Context, pool *pgxpool.Pool, spec string) (int64, error) {
	var id int64
	err := pool.QueryRow(ctx, "SELECT flow.start($1::jsonb)", spec).Scan(&id)
	return id, err
}

// A starter may start the kinds granted to its roles, and no other; an
// htdag-internal kind is never a node's.
func TestStarterStartsOnlyGrantedKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	team := b.newRole(t, "team", false)
	ingestTeam := b.newRole(t, "ingest", false)
	b.grantKind(t, team, "noop")
	b.grantKind(t, ingestTeam, "ingest.*")
	_, starter := b.loginAs(t, "starter", "flow_starter", team)
	_, ingester := b.loginAs(t, "ingester", "flow_starter", ingestTeam)

	_, err := startAs(b.ctx, starter, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	require.NoError(t, err)
	_, err = startAs(b.ctx, starter, `{"nodes": [{"id": "a", "kind": "ingest.stat", "args": {"root": "/etc", "path": "shadow"}}]}`)
	requireSQLState(t, err, "42501", `may not start jobs of kind "ingest.stat"`)
	// Nested workflows are checked too.
	_, err = startAs(b.ctx, starter, `{"nodes": [{"id": "s", "workflow": {"nodes": [{"id": "x", "kind": "echo"}]}}]}`)
	requireSQLState(t, err, "42501", `may not start jobs of kind "echo"`)
	_, err = startAs(b.ctx, ingester, `{"nodes": [{"id": "a", "kind": "ingest.stat"}]}`)
	require.NoError(t, err, "ingest.* matches")
	_, err = startAs(b.ctx, ingester, `{"nodes": [{"id": "a", "kind": "ingestXstat"}]}`)
	requireSQLState(t, err, "42501", "ingestXstat")

	// flow.start, the River door's kind, would multiply runs past any tree
	// limit: it is never a node.
	b.grantKind(t, team, "*")
	_, err = startAs(b.ctx, starter, `{"nodes": [{"id": "g", "kind": "noop"}, {"id": "m", "map": "g", "kind": "flow.start"}]}`)
	requireSQLState(t, err, "22023", `kind "flow.start" is htdag's own`)

	// The Go client says which kind.
	_, err = flow.NewClient(ingester, nil).Start(b.ctx, flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop"}]}`))
	var notAllowed *flow.NotAllowedError
	require.ErrorAs(t, err, &notAllowed)
	require.Contains(t, notAllowed.Reason, `may not start jobs of kind "noop"`)
}

// An expansion is held to the run owner's grants.
func TestExpansionKindsAreGranted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	team := b.newRole(t, "team", false)
	b.grantKind(t, team, "expand_json")
	_, starter := b.loginAs(t, "starter", "flow_starter", team)
	runID, err := startAs(b.ctx, starter, `{"nodes": [{"id": "e", "kind": "expand_json",
		"args": {"spec": {"nodes": [{"id": "x", "kind": "echo"}]}}, "max_attempts": 3}]}`)
	require.NoError(t, err)
	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	n := b.nodes(t, runID)["e"]
	require.Equal(t, "cancelled", n.State, "not retried: it would fail alike")
	require.Contains(t, n.LastError, `may not start jobs of kind "echo"`)
}

// The SECURITY DEFINER functions ignore what the caller set: a preset
// flow.in_trigger once made flow.cancel leave its run running forever.
func TestCallerSettingsDoNotSteerDefinerFunctions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	team := b.newRole(t, "team", false)
	b.grantKind(t, team, "noop")
	_, starter := b.loginAs(t, "starter", "flow_starter", team)
	runID, err := startAs(b.ctx, starter, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	require.NoError(t, err)

	conn, err := starter.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	for _, set := range []string{"SET flow.in_trigger = 'on'", "SET flow.cancelling = '999'", "SET flow.deleting_runs = 'on'"} {
		_, err = conn.Exec(b.ctx, set)
		require.NoError(t, err)
	}
	var cancelled bool
	require.NoError(t, conn.QueryRow(b.ctx, "SELECT flow.cancel($1)", runID).Scan(&cancelled))
	require.True(t, cancelled)
	run := b.getRun(t, runID)
	require.Equal(t, flow.RunStateCancelled, run.State)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	var reset int
	require.NoError(t, conn.QueryRow(b.ctx, "SELECT flow.retry($1)", runID).Scan(&reset))
	require.Equal(t, 2, reset)
	require.False(t, b.getRun(t, runID).State.Finished())
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Limits are an admin's: the max_nodes argument, the flow.max_nodes setting
// and a spec's own limits may lower them, never raise them.
func TestLimitsBelongToAdmins(t *testing.T) {
	t.Parallel()
	b := setup(t)
	team := b.newRole(t, "team", false)
	b.grantKind(t, team, "noop")
	name, starter := b.loginAs(t, "starter", "flow_starter", team)
	_, err := b.pool.Exec(b.ctx, `INSERT INTO flow.limits (role, max_nodes, max_tree_nodes) VALUES ($1, 3, 3)`, name)
	require.NoError(t, err)

	var id int64
	err = starter.QueryRow(b.ctx, "SELECT flow.start($1::jsonb, 1000)", fourNodes).Scan(&id)
	requireSQLState(t, err, "22023", "the workflow has 4 nodes, more than the limit of 3")
	conn, err := starter.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(b.ctx, "SET flow.max_nodes = 1000")
	require.NoError(t, err)
	err = conn.QueryRow(b.ctx, "SELECT flow.start($1::jsonb)", fourNodes).Scan(&id)
	requireSQLState(t, err, "22023", "more than the limit of 3")
	_, err = startAs(b.ctx, starter, `{"max_tree_nodes": 100000000, "nodes": [{"id": "s", "workflow": {"nodes": [
		{"id": "x", "kind": "noop"}, {"id": "y", "kind": "noop"}, {"id": "z", "kind": "noop"}]}}]}`)
	requireSQLState(t, err, "22023", "it has 4 nodes at all levels, more than the limit of 3 (max_tree_nodes)")
	// ... and the spec may lower them.
	_, err = startAs(b.ctx, starter, `{"max_tree_nodes": 2, "nodes": [{"id": "s", "workflow": {"nodes": [
		{"id": "x", "kind": "noop"}, {"id": "y", "kind": "noop"}]}}]}`)
	requireSQLState(t, err, "22023", "more than the limit of 2 (max_tree_nodes)")
	// A starter cannot touch the limits.
	_, err = starter.Exec(b.ctx, `UPDATE flow.limits SET max_nodes = 1000000`)
	requireSQLState(t, err, "42501", "permission denied")
	requireNoRows(t, b.ctx, b.pool)
}

// Runs are their owners': another team cannot see, cancel, retry or
// squat the key of a team's run; a reader sees its own roles' runs; an
// admin sees every run.
func TestRunsAreIsolatedBetweenTeams(t *testing.T) {
	t.Parallel()
	b := setup(t)
	teamA := b.newRole(t, "team_a", false)
	teamB := b.newRole(t, "team_b", false)
	b.grantKind(t, "public", "noop")
	_, alice := b.loginAs(t, "alice", "flow_starter", "flow_reader", teamA)
	_, bob := b.loginAs(t, "bob", "flow_starter", "flow_reader", teamB)
	_, carol := b.loginAs(t, "carol", "flow_reader", teamA)
	_, admin := b.loginAs(t, "admin", "flow_admin")

	// Alice starts a run for her team (a role she is a member of).
	spec := `{"key": "nightly", "input": {"secret": "s3cr3t"}, "nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`
	var runA int64
	require.NoError(t, alice.QueryRow(b.ctx, "SELECT flow.start($1::jsonb, NULL, $2)", spec, teamA).Scan(&runA))
	require.Equal(t, teamA, b.getRun(t, runA).Owner)

	// Bob sees nothing of it, anywhere.
	for _, q := range []string{
		"SELECT count(*) FROM flow.runs WHERE id = $1",
		"SELECT count(*) FROM flow.nodes WHERE run_id = $1",
		"SELECT count(*) FROM flow.blocked WHERE run_id = $1",
		"SELECT count(*) FROM flow.tree($1)",
		"SELECT count(*) FROM flow.run WHERE id = $1",
		"SELECT count(*) FROM flow.node WHERE run_id = $1",
	} {
		var n int
		require.NoError(t, bob.QueryRow(b.ctx, q, runA).Scan(&n), q)
		require.Zero(t, n, "bob: %s", q)
	}
	_, err := bob.Exec(b.ctx, "SELECT flow.cancel($1)", runA)
	requireSQLState(t, err, "P0002", "does not exist")
	_, err = bob.Exec(b.ctx, "SELECT flow.retry($1)", runA)
	requireSQLState(t, err, "P0002", "does not exist")
	_, err = flow.NewClient(bob, nil).GetRun(b.ctx, runA)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
	// Bob's key is his own: the same key starts his own run.
	var runB int64
	require.NoError(t, bob.QueryRow(b.ctx, "SELECT flow.start($1::jsonb, NULL, $2)", spec, teamB).Scan(&runB))
	require.NotEqual(t, runA, runB)
	var again int64
	require.NoError(t, alice.QueryRow(b.ctx, "SELECT flow.start($1::jsonb, NULL, $2)", spec, teamA).Scan(&again))
	require.Equal(t, runA, again, "alice's key still finds her team's run")
	// Naming an owner he is not a member of is refused.
	_, err = bob.Exec(b.ctx, "SELECT flow.start($1::jsonb, NULL, $2)", spec, teamA)
	requireSQLState(t, err, "42501", "may not start runs owned by role")

	// Carol, a reader in team A, sees team A's run, input and all, and not
	// team B's; she cannot cancel it (no starter grant).
	var input string
	require.NoError(t, carol.QueryRow(b.ctx, "SELECT input::text FROM flow.runs WHERE id = $1", runA).Scan(&input))
	require.JSONEq(t, `{"secret": "s3cr3t"}`, input)
	var n int
	require.NoError(t, carol.QueryRow(b.ctx, "SELECT count(*) FROM flow.runs WHERE id = $1", runB).Scan(&n))
	require.Zero(t, n)
	run, err := flow.NewClient(carol, nil).GetRun(b.ctx, runA)
	require.NoError(t, err)
	require.Equal(t, flow.RunStatePending, run.State)
	_, err = carol.Exec(b.ctx, "SELECT flow.cancel($1)", runA)
	requireSQLState(t, err, "42501", "permission denied")
	// Alice (team A) cancels her team's run.
	_, err = flow.NewClient(alice, nil).Cancel(b.ctx, runA)
	require.NoError(t, err)

	// The admin sees both.
	require.NoError(t, admin.QueryRow(b.ctx, "SELECT count(*) FROM flow.runs WHERE id IN ($1, $2)", runA, runB).Scan(&n))
	require.Equal(t, 2, n)
	_, err = flow.NewClient(admin, nil).Cancel(b.ctx, runB)
	require.NoError(t, err)
}

// A session that SET ROLEs to its team starts runs owned by the team.
func TestRunOwnerIsTheRoleTheSessionActsAs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	team := b.newRole(t, "team", false, "flow_starter")
	b.grantKind(t, team, "noop")
	name, dave := b.loginAs(t, "dave", team)
	conn, err := dave.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	var own, teams int64
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT flow.start('{"nodes": [{"id": "a", "kind": "noop"}]}')`).Scan(&own))
	_, err = conn.Exec(b.ctx, "SET ROLE "+team)
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT flow.start('{"nodes": [{"id": "a", "kind": "noop"}]}')`).Scan(&teams))
	require.Equal(t, name, b.getRun(t, own).Owner)
	require.Equal(t, team, b.getRun(t, teams).Owner)
}

// NOTIFY needs no privilege: a login with no grant at all sends River
// control messages. Through flow.Driver, River acts only on those the
// database backs: a spoofed cancel leaves the node running, a spoofed pause
// does not stop work.
func TestSpoofedRiverControlMessagesAreIgnored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	var logs syncBuffer
	config := riverConfig(b.pool, tw)
	config.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	flowtest.StartRiver(t, b.pool, config)
	_, nobody := b.loginAs(t, "nobody")

	runID := b.startSQL(t, `{"nodes": [{"id": "g", "kind": "gate"}]}`)
	require.Eventually(t, func() bool { return tw.gate.started.Load() == 1 }, testTimeout/2, 5*time.Millisecond)
	jobID := b.nodes(t, runID)["g"].JobID
	_, err := nobody.Exec(b.ctx, "SELECT pg_notify('public.river_control', $1)",
		fmt.Sprintf(`{"action": "cancel", "job_id": %d, "queue": "default"}`, jobID))
	require.NoError(t, err)
	if !assert.Eventually(t, func() bool {
		return strings.Contains(logs.String(), fmt.Sprintf("job %d has no cancel asked for", jobID))
	},
		testTimeout/2, 5*time.Millisecond, "the spoofed cancel reaches the listener and is dropped") {
		t.Fatalf("logs:\n%s", logs.String())
	}
	require.Equal(t, "running", b.nodes(t, runID)["g"].State)
	close(tw.gate.open)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)

	_, err = nobody.Exec(b.ctx, `SELECT pg_notify('public.river_control', '{"action": "pause", "queue": "*"}')`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `is not paused in river_queue`) },
		testTimeout/2, 5*time.Millisecond)
	second := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	run, err := b.flow.Wait(ctx, second)
	require.NoError(t, err, "a spoofed pause must not hold work back")
	require.Equal(t, flow.RunStateCompleted, run.State)
}

// A real cancel and a real pause still reach River through flow.Driver.
func TestRealRiverControlMessagesPass(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	client := flowtest.StartRiver(t, b.pool, riverConfig(b.pool, tw))
	runID := b.startSQL(t, `{"nodes": [{"id": "g", "kind": "gate"}]}`)
	require.Eventually(t, func() bool { return tw.gate.started.Load() == 1 }, testTimeout/2, 5*time.Millisecond)
	_, err := client.JobCancel(b.ctx, b.nodes(t, runID)["g"].JobID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State)
	require.Equal(t, "cancelled", b.nodes(t, runID)["g"].State)
}

func categories(problems []flow.Problem) []flow.ProblemCategory {
	var out []flow.ProblemCategory
	for _, p := range problems {
		out = append(out, p.Category)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// River's cleaner is off (it stalled on flow jobs that runs keep whole);
// htdag's cleans plain River jobs past their retention whatever flow jobs
// wait in front of them, such as those of a run with a node due in months.
func TestFarFutureRunDoesNotStopCleaning(t *testing.T) {
	t.Parallel()
	b := setup(t)
	config := flow.RiverConfig(b.pool, nil)
	require.EqualValues(t, -1, config.CompletedJobRetentionPeriod)
	require.EqualValues(t, -1, config.CancelledJobRetentionPeriod)
	require.EqualValues(t, -1, config.DiscardedJobRetentionPeriod)

	someday := time.Now().UTC().AddDate(0, 10, 0).Format(time.RFC3339)
	runID := b.startSQL(t, fmt.Sprintf(`{"nodes": [{"id": "done", "kind": "noop"}, {"id": "later", "kind": "noop", "at": %q}]}`, someday))
	b.complete(t, runID, "done")
	// Plain River jobs, inserted after the run's: completed long ago.
	inserter, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	require.NoError(t, err)
	params := make([]river.InsertManyParams, 50)
	for i := range params {
		params[i] = river.InsertManyParams{Args: jobs.NoopArgs{}}
	}
	_, err = inserter.InsertMany(b.ctx, params)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() - interval '2 days', attempt = 1, attempted_at = now() - interval '2 days'
		WHERE NOT metadata ? 'flow_run' OR metadata ->> 'flow_node' = 'done'`)
	require.NoError(t, err)

	deleted, err := b.flow.DeleteFinishedJobs(b.ctx, flow.JobRetention{}, 7)
	require.NoError(t, err)
	require.Equal(t, 50, deleted)
	var left int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM river_job").Scan(&left))
	require.Equal(t, 2, left, "the run's jobs stay with it")
	problems, err := b.flow.Check(b.ctx, runID)
	require.NoError(t, err)
	require.Contains(t, categories(problems), flow.ProblemSchedule, "doctor reports the run that waits for months")
}

// The River door: a flow.start job inserted by a role starts a run owned by
// that role, under its grants and limits; one that cannot start is
// cancelled, not retried forever; an oversized one is refused at insert.
func TestRiverDoorRunsAsTheInserter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	team := b.newRole(t, "team", false)
	b.grantKind(t, team, "noop")
	name, app := b.loginAs(t, "app", team)
	_, err := b.pool.Exec(b.ctx, "GRANT INSERT, SELECT, UPDATE ON river_job TO "+name+"; GRANT USAGE ON SEQUENCE river_job_id_seq TO "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = b.pool.Exec(context.Background(), "REVOKE ALL ON river_job FROM "+name+"; REVOKE ALL ON SEQUENCE river_job_id_seq FROM "+name)
	})
	_, err = b.pool.Exec(b.ctx, `INSERT INTO flow.limits (role, max_tree_nodes, max_spec_bytes) VALUES ($1, 2, 2000)`, name)
	require.NoError(t, err)
	inserter, err := river.NewClient(riverpgxv5.New(app), &river.Config{})
	require.NoError(t, err)
	insert := func(spec string) int64 {
		t.Helper()
		res, err := inserter.Insert(b.ctx, flow.StartArgs{Spec: json.RawMessage(spec)}, nil)
		require.NoError(t, err)
		return res.Job.ID
	}
	jobState := func(id int64) (state, lastError string, output json.RawMessage) {
		require.Eventually(t, func() bool {
			err := b.pool.QueryRow(b.ctx, `SELECT state::text, coalesce(errors[array_upper(errors, 1)] ->> 'error', ''), metadata -> 'output'
				FROM river_job WHERE id = $1`, id).Scan(&state, &lastError, &output)
			return err == nil && (state == "completed" || state == "cancelled" || state == "discarded")
		}, testTimeout/2, 5*time.Millisecond)
		return state, lastError, output
	}

	state, _, output := jobState(insert(`{"nodes": [{"id": "a", "kind": "noop"}]}`))
	require.Equal(t, "completed", state)
	var started struct {
		RunID int64 `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal(output, &started))
	require.Equal(t, name, b.getRun(t, started.RunID).Owner)

	state, lastErr, _ := jobState(insert(`{"nodes": [{"id": "a", "kind": "echo"}]}`))
	require.Equal(t, "cancelled", state)
	require.Contains(t, lastErr, `may not start jobs of kind "echo"`)
	state, lastErr, _ = jobState(insert(`{"nodes": [{"id": "s", "workflow": {"nodes": [{"id": "x", "kind": "noop"}, {"id": "y", "kind": "noop"}]}}]}`))
	require.Equal(t, "cancelled", state, "over the tree limit: cancelled, not retried forever")
	require.Contains(t, lastErr, "more than the limit of 2 (max_tree_nodes)")

	// A spec stamped as another role's is stamped again with the inserter.
	res, err := inserter.Insert(b.ctx, flow.StartArgs{Spec: json.RawMessage(`{"nodes": [{"id": "a", "kind": "noop"}]}`)},
		&river.InsertOpts{Metadata: []byte(`{"flow_owner": "postgres"}`)})
	require.NoError(t, err)
	_, _, output = jobState(res.Job.ID)
	require.NoError(t, json.Unmarshal(output, &started))
	require.Equal(t, name, b.getRun(t, started.RunID).Owner)

	_, err = inserter.Insert(b.ctx, flow.StartArgs{Spec: json.RawMessage(`{"nodes": [{"id": "a", "kind": "noop", "args": {"pad": "` +
		strings.Repeat("x", 5000) + `"}}]}`)}, nil)
	requireSQLState(t, err, "22023", "more than the limit of 2000 (flow.limits max_spec_bytes)")
}

// Values the spec checker must name, not crash on.
func TestSpecValuesAreCheckedBeforeUse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct{ spec, problem string }{
		{`{"max_depth": "abc", "nodes": [{"id": "a", "kind": "noop"}]}`, `"max_depth" must be an integer from 0 to 1000`},
		{`{"max_tree_nodes": 1e99, "nodes": [{"id": "a", "kind": "noop"}]}`, `"max_tree_nodes" must be an integer`},
		{`{"nodes": [{"id": "a", "kind": "noop", "queue": "Bad Queue"}]}`, `"queue" must be a River queue name`},
		{`{"nodes": [{"id": "a", "kind": "noop", "queue": "*"}]}`, `"queue" must be a River queue name`},
		{`{"queue": "` + strings.Repeat("q", 65) + `", "nodes": [{"id": "a", "kind": "noop"}]}`, `"queue" must be a River queue name`},
		{`{"nodes": [{"id": "a", "kind": "noop", "at": "9999-01-01T00:00:00Z"}]}`, `is further ahead than the limit of 366 days (flow.limits max_delay)`},
		{`{"input": "` + strings.Repeat("x", 1<<20) + `", "nodes": [{"id": "a", "kind": "noop"}]}`, `its "input" is`},
	} {
		_, err := b.flow.Start(b.ctx, flow.JSONSpec(tc.spec))
		var specErr *flow.SpecError
		require.ErrorAs(t, err, &specErr, "%.80s", tc.spec)
		require.Contains(t, specErr.Problem, tc.problem)
	}
	requireNoRows(t, b.ctx, b.pool)
}

// The guards refuse what would strand a run whoever tries it: completing a
// node before its parents, hiding a node from the engine by dropping its
// metadata, deleting a run's row without its jobs.
func TestGuardsHoldAgainstHandEdits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	jobB := b.nodes(t, runID)["b"].JobID

	_, err := b.pool.Exec(b.ctx, "UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1", jobB)
	requireSQLState(t, err, "55000", `cannot be made completed: 1 of its parents have not completed`)
	_, err = b.pool.Exec(b.ctx, "UPDATE river_job SET metadata = metadata - 'flow_run', state = 'completed', finalized_at = now() WHERE id = $1", jobB)
	requireSQLState(t, err, "55000", "must keep its metadata keys flow_run and flow_node")
	_, err = b.pool.Exec(b.ctx, "DELETE FROM flow.run WHERE id = $1", runID)
	requireSQLState(t, err, "55000", "is deleted whole, with its jobs, by flow.delete_finished_runs")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A starter can call only what it is granted: not the engine's internals.
func TestStarterCannotCallInternals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, starter := b.loginAs(t, "starter", "flow_starter")
	for _, q := range []string{
		`SELECT flow.insert_nodes(1, '{}', '{}', '{}', '{}')`,
		`SELECT flow.expand(1, '{}')`,
		`SELECT flow.rescue_lost_nodes()`,
		`SELECT flow.worker_register('x', 'h', 1, '', '{}', '{}')`,
		`SELECT flow.delete_finished_runs('0')`,
		`SELECT flow.cancel_at_deadline(1, 1)`,
		`SELECT flow.cancel_tree(1, 'x')`,
		`SELECT flow.arm_deadline(1)`,
		`SELECT flow.fire_due_timers()`,
		`SELECT flow.park_waits('{1}')`,
		`SELECT flow.concurrency_settle('{}', '{}', '{1}', '{}')`,
		`SELECT flow.notify_runnable('{default}', 1)`,
		`SELECT flow.worker_heartbeat(1, '{"default": 1}')`,
		// (Were this allowed, a starter could make every release skip the
		// workers it chose.)
		`UPDATE flow.worker SET free_slots = '{"default": 0}'`,
		// (Were this allowed, any pending keyed node could be listed here to
		// be admitted at commit, its parents unfinished.)
		`INSERT INTO flow.concurrency_commit (xid, roots) VALUES (pg_current_xact_id(), '{1}')`,
		`SELECT * FROM flow.runs`,
		`SELECT * FROM river_job`,
		`UPDATE flow.node SET waiting = 0`,
		`INSERT INTO flow.kind_grant (role, pattern) VALUES ('public', '*')`,
	} {
		_, err := starter.Exec(b.ctx, q)
		requireSQLState(t, err, "42501", "permission denied")
	}
}
