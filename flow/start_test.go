package flow_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// kindlessArgs are args whose kind is empty.
type kindlessArgs struct{}

func (kindlessArgs) Kind() string { return "" }

// listArgs are args that encode as a JSON array, not an object.
type listArgs []int

func (listArgs) Kind() string { return "list" }

// optedArgs carry their own River insert options.
type optedArgs struct {
	N int `json:"n"`
}

func (optedArgs) Kind() string { return "opted" }

func (optedArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "opts", Priority: 3, MaxAttempts: 7}
}

// requireSQLSpecError asserts that err is flow.start's rejection of a spec:
// SQLSTATE 22023 with the message "invalid workflow spec: <problem>".
func requireSQLSpecError(t *testing.T, err error, problem string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "22023", pgErr.Code, "SQLSTATE of %q", pgErr.Message)
	require.Equal(t, "invalid workflow spec: "+problem, pgErr.Message)
}

// requireSpecError asserts that err is a *flow.SpecError naming problem.
func requireSpecError(t *testing.T, err error, problem string) {
	t.Helper()
	var specErr *flow.SpecError
	require.ErrorAs(t, err, &specErr)
	require.Equal(t, problem, specErr.Problem)
	require.Equal(t, "invalid workflow spec: "+problem, err.Error())
}

func TestStartRejectsInvalidSpec(t *testing.T) {
	t.Parallel()

	// Every case is rejected with nothing written, so they share one database
	// and each checks that it is still empty. The cases run one after the
	// other (not in parallel) so that a case that wrongly writes fails alone:
	// it empties the database again when it fails.
	b := setup(t)
	resetOnFailure := func(t *testing.T) {
		t.Cleanup(func() {
			if t.Failed() {
				_, err := b.pool.Exec(b.ctx, "TRUNCATE flow.run, flow.node, river_job CASCADE")
				require.NoError(t, err)
			}
		})
	}

	id129 := strings.Repeat("x", 129)
	tests := []struct {
		name    string
		spec    string // for SELECT flow.start(spec) and Client.Start(flow.JSONSpec(spec))
		problem string
		// build, when set, expresses the same mistake through the Go builder
		// (or a *flow.Spec), rejected with goProblem (default: problem).
		build     func() flow.Specifier
		goProblem string
	}{
		{
			name:    "NotAnObject",
			spec:    `[{"id": "a", "kind": "noop"}]`,
			problem: "the spec must be a JSON object",
		},
		{
			name:    "JSONNull",
			spec:    `null`,
			problem: "the spec must be a JSON object",
		},
		{
			name:    "NoNodesKey",
			spec:    `{"name": "x"}`,
			problem: `"nodes" must be an array of nodes`,
		},
		{
			name:    "EmptyNodes",
			spec:    `{"nodes": []}`,
			problem: "the workflow has no nodes",
			build:   func() flow.Specifier { return flow.New("empty") },
		},
		{
			name:    "NodesNotArray",
			spec:    `{"nodes": {"a": {"kind": "noop"}}}`,
			problem: `"nodes" must be an array of nodes`,
		},
		{
			name:    "NodeNotObject",
			spec:    `{"nodes": [{"id": "a", "kind": "noop"}, "b"]}`,
			problem: "node #2 must be a JSON object",
		},
		{
			name:    "MissingID",
			spec:    `{"nodes": [{"kind": "noop"}]}`,
			problem: `node #1 has no "id" (a string)`,
		},
		{
			name:    "DuplicateID",
			spec:    `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"}, {"id": "a", "kind": "echo"}]}`,
			problem: `node id "a" is used more than once`,
			build: func() flow.Specifier {
				w := flow.New("dup")
				w.Add("a", jobs.NoopArgs{})
				w.Add("b", jobs.NoopArgs{})
				w.Add("a", jobs.EchoArgs{})
				return w
			},
		},
		{
			name:    "UnknownDependency",
			spec:    `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a", "x"]}]}`,
			problem: `node "b" depends on unknown node "x"`,
			build: func() flow.Specifier {
				other := flow.New("other")
				x := other.Add("x", jobs.NoopArgs{})
				w := flow.New("unknown")
				a := w.Add("a", jobs.NoopArgs{})
				w.Add("b", jobs.NoopArgs{}, flow.After(a, x))
				return w
			},
			goProblem: `node "b": depends on "x", which is not in this workflow (add parents first)`,
		},
		{
			name:    "SelfDependency",
			spec:    `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a", "b"]}]}`,
			problem: `node "b" depends on itself`,
			build: func() flow.Specifier {
				return &flow.Spec{Nodes: []flow.NodeSpec{
					{ID: "a", Kind: "noop"},
					{ID: "b", Kind: "noop", Deps: []string{"a", "b"}},
				}}
			},
		},
		{
			// A 3-cycle among valid nodes: a root, a node hanging off the
			// root, and a branch into the cycle.
			name: "Cycle",
			spec: `{"nodes": [
				{"id": "root", "kind": "noop"},
				{"id": "a", "kind": "noop", "deps": ["root", "c"]},
				{"id": "b", "kind": "noop", "deps": ["a"]},
				{"id": "c", "kind": "noop", "deps": ["b"]},
				{"id": "leaf", "kind": "noop", "deps": ["root"]}]}`,
			problem: "dependency cycle: a -> b -> c -> a (each node depends on the one before it)",
			build: func() flow.Specifier {
				return &flow.Spec{Nodes: []flow.NodeSpec{
					{ID: "root", Kind: "noop"},
					{ID: "a", Kind: "noop", Deps: []string{"root", "c"}},
					{ID: "b", Kind: "noop", Deps: []string{"a"}},
					{ID: "c", Kind: "noop", Deps: []string{"b"}},
					{ID: "leaf", Kind: "noop", Deps: []string{"root"}},
				}}
			},
		},
		{
			name:    "InvalidIDCharacters",
			spec:    `{"nodes": [{"id": "a/b", "kind": "noop"}]}`,
			problem: `node #1 has invalid id "a/b": ids are 1 to 128 characters from A-Z a-z 0-9 _ . : -`,
			build: func() flow.Specifier {
				w := flow.New("bad id")
				w.Add("a/b", jobs.NoopArgs{})
				return w
			},
		},
		{
			name:    "EmptyID",
			spec:    `{"nodes": [{"id": "", "kind": "noop"}]}`,
			problem: `node #1 has invalid id "": ids are 1 to 128 characters from A-Z a-z 0-9 _ . : -`,
		},
		{
			name:    "IDOf129Characters",
			spec:    `{"nodes": [{"id": "ok", "kind": "noop"}, {"id": "` + id129 + `", "kind": "noop"}]}`,
			problem: `node #2 has invalid id "` + id129 + `": ids are 1 to 128 characters from A-Z a-z 0-9 _ . : -`,
			build: func() flow.Specifier {
				w := flow.New("long id")
				w.Add("ok", jobs.NoopArgs{})
				w.Add(id129, jobs.NoopArgs{})
				return w
			},
		},
		{
			name:    "MissingKind",
			spec:    `{"nodes": [{"id": "a", "args": {}}]}`,
			problem: `node "a" has no "kind" (a non-empty string), no "workflow" and no "wait"`,
			build: func() flow.Specifier {
				w := flow.New("kindless")
				w.Add("a", kindlessArgs{})
				return w
			},
		},
		{
			name:    "ArgsNotObject",
			spec:    `{"nodes": [{"id": "a", "kind": "list", "args": [1, 2]}]}`,
			problem: `node "a": "args" must be a JSON object, not array`,
			build: func() flow.Specifier {
				w := flow.New("list")
				w.Add("a", listArgs{1, 2})
				return w
			},
		},
		{
			// Found after the per-node checks and the nested workflows' own.
			name:    "DuplicateIDInNestedWorkflow",
			spec:    `{"nodes": [{"id": "s", "workflow": {"nodes": [{"id": "x", "kind": "noop"}, {"id": "x", "kind": "noop"}]}}]}`,
			problem: `node "s": workflow: node id "x" is used more than once`,
		},
		{
			// Of several unknown keys, one is named (the first in jsonb's
			// own key order: shortest first).
			name:    "UnknownKeys",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "retries": 3, "zz": 1}]}`,
			problem: `node "a" has unknown key "zz" (allowed: id, kind, args, deps, queue, priority, max_attempts, at, timeout_ms, workflow, map, trigger, if, wait, concurrency)`,
		},
		{
			name:    "SubWorkflowWithAt",
			spec:    `{"nodes": [{"id": "s", "at": "2030-01-01T00:00:00Z", "priority": 2, "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}}]}`,
			problem: `node "s": a sub-workflow node takes no "at" (it runs as a child run, not as a job: set it on the workflow or its nodes)`,
		},
		{
			name:    "DepsNotArray",
			spec:    `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": "a"}]}`,
			problem: `node "b": "deps" must be an array of node ids`,
		},
		{
			name:    "DepsNotStrings",
			spec:    `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a", 1]}]}`,
			problem: `node "b": "deps" must be an array of node ids (strings)`,
		},
		{
			name:    "PriorityOutOfRange",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "priority": 5}]}`,
			problem: `node "a": "priority" must be 1, 2, 3 or 4`,
			build: func() flow.Specifier {
				w := flow.New("priority")
				w.Add("a", jobs.NoopArgs{}, flow.WithPriority(5))
				return w
			},
		},
		{
			// The builder's zero means "default", so its bad value is -1.
			name:    "MaxAttemptsOutOfRange",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "max_attempts": 0}]}`,
			problem: `node "a": "max_attempts" must be an integer from 1 to 32767`,
			build: func() flow.Specifier {
				w := flow.New("attempts")
				w.Add("a", jobs.NoopArgs{}, flow.WithMaxAttempts(-1))
				return w
			},
		},
		{
			name:    "QueueTooLong",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "queue": "` + strings.Repeat("q", 128) + `"}]}`,
			problem: `node "a": "queue" must be a River queue name: lower-case letters and digits, in words joined by _ or -, at most 64 characters`,
			build: func() flow.Specifier {
				w := flow.New("queue")
				w.Add("a", jobs.NoopArgs{}, flow.WithQueue(strings.Repeat("q", 128)))
				return w
			},
		},
		{
			name:    "UnknownNodeKey",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "depends_on": ["b"]}]}`,
			problem: `node "a" has unknown key "depends_on" (allowed: id, kind, args, deps, queue, priority, max_attempts, at, timeout_ms, workflow, map, trigger, if, wait, concurrency)`,
		},
		{
			name:    "UnknownTopLevelKey",
			spec:    `{"nodes": [{"id": "a", "kind": "noop"}], "timeout": 5}`,
			problem: `unknown key "timeout" (allowed: name, input, nodes, key, queue, priority, max_attempts, at, output, max_depth, max_tree_nodes, timeout_ms, concurrency)`,
		},
		{
			name:    "NameTooLong",
			spec:    `{"name": "` + strings.Repeat("n", 201) + `", "nodes": [{"id": "a", "kind": "noop"}]}`,
			problem: `"name" must be a string of at most 200 characters`,
			build: func() flow.Specifier {
				w := flow.New(strings.Repeat("n", 201))
				w.Add("a", jobs.NoopArgs{})
				return w
			},
		},
		{
			name:    "AtNotATimestamp",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "at": "soon"}]}`,
			problem: `node "a": "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"`,
		},
		{
			// PostgreSQL reads "infinity" as a timestamp; a node scheduled
			// at infinity never starts and its run never finishes.
			name:    "AtInfinity",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "at": "infinity"}]}`,
			problem: `node "a": "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"`,
		},
		{
			name:    "AtMinusInfinity",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "at": "-infinity"}]}`,
			problem: `node "a": "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"`,
		},
		{
			// Forms that depend on the session's TimeZone or DateStyle.
			name:    "AtWithoutZone",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "at": "2030-01-02T15:04:05"}]}`,
			problem: `node "a": "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"`,
		},
		{
			name:    "AtDateStyle",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "at": "01/02/2030"}]}`,
			problem: `node "a": "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"`,
		},
		{
			name:    "AtTomorrow",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "at": "tomorrow"}]}`,
			problem: `node "a": "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"`,
		},
		{
			name:    "AtNotAString",
			spec:    `{"nodes": [{"id": "a", "kind": "noop", "at": 1767366245}]}`,
			problem: `node "a": "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("SQL", func(t *testing.T) {
				resetOnFailure(t)
				var runID int64
				err := b.pool.QueryRow(b.ctx, "SELECT flow.start($1::jsonb)", tt.spec).Scan(&runID)
				requireSQLSpecError(t, err, tt.problem)
				requireNoRows(t, b.ctx, b.pool)
			})

			t.Run("JSONSpec", func(t *testing.T) {
				resetOnFailure(t)
				_, err := b.flow.Start(b.ctx, flow.JSONSpec(tt.spec))
				requireSpecError(t, err, tt.problem)
				requireNoRows(t, b.ctx, b.pool)
			})

			if tt.build != nil {
				t.Run("Builder", func(t *testing.T) {
					resetOnFailure(t)
					problem := tt.problem
					if tt.goProblem != "" {
						problem = tt.goProblem
					}
					_, err := b.flow.Start(b.ctx, tt.build())
					requireSpecError(t, err, problem)
					requireNoRows(t, b.ctx, b.pool)
				})
			}
		})
	}
}

func TestStartRejectsSQLNull(t *testing.T) {
	t.Parallel()
	b := setup(t)

	var runID *int64
	err := b.pool.QueryRow(b.ctx, "SELECT flow.start(NULL)").Scan(&runID)
	requireSQLSpecError(t, err, "the spec must be a JSON object")
	requireNoRows(t, b.ctx, b.pool)
}

func TestJSONSpecRejectsMalformedJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.flow.Start(b.ctx, flow.JSONSpec(`{"nodes": [`))
	requireSpecError(t, err, "the spec is not valid JSON")
	requireNoRows(t, b.ctx, b.pool)
}

func TestStartRejectsNilSpec(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.flow.Start(b.ctx, nil)
	requireSpecError(t, err, "the spec is nil")
	requireNoRows(t, b.ctx, b.pool)

	// A typed nil *Spec is a Specifier that yields nil.
	_, err = b.flow.Start(b.ctx, (*flow.Spec)(nil))
	var specErr *flow.SpecError
	require.ErrorAs(t, err, &specErr)
	requireNoRows(t, b.ctx, b.pool)
}

// fourNodes is one node more than the limit of 3 used below.
const fourNodes = `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"},
	{"id": "c", "kind": "noop", "deps": ["a"]}, {"id": "d", "kind": "noop", "deps": ["b", "c"]}]}`

const tooManyProblem = "the workflow has 4 nodes, more than the limit of 3 (see flow.limits)"

func fourNodeWorkflow() *flow.Workflow {
	w := flow.New("four")
	a := w.Add("a", jobs.NoopArgs{})
	bb := w.Add("b", jobs.NoopArgs{})
	c := w.Add("c", jobs.NoopArgs{}, flow.After(a))
	w.Add("d", jobs.NoopArgs{}, flow.After(bb, c))
	return w
}

func TestStartMaxNodesArgument(t *testing.T) {
	t.Parallel()
	b := setup(t)

	var runID int64
	err := b.pool.QueryRow(b.ctx, "SELECT flow.start($1::jsonb, 3)", fourNodes).Scan(&runID)
	requireSQLSpecError(t, err, tooManyProblem)
	requireNoRows(t, b.ctx, b.pool)

	// Three nodes are within the limit.
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT flow.start($1::jsonb, 3)",
		`{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"}, {"id": "c", "kind": "noop"}]}`).Scan(&runID))
	require.Equal(t, 3, b.getRun(t, runID).NodeCount)
}

func TestStartMaxNodesConfig(t *testing.T) {
	t.Parallel()
	b := setup(t)
	limited := flow.NewClient(b.pool, &flow.Config{MaxNodes: 3})

	_, err := limited.Start(b.ctx, flow.JSONSpec(fourNodes))
	requireSpecError(t, err, tooManyProblem)
	requireNoRows(t, b.ctx, b.pool)

	_, err = limited.Start(b.ctx, fourNodeWorkflow())
	requireSpecError(t, err, tooManyProblem)
	requireNoRows(t, b.ctx, b.pool)

	// The same spec through a client without a limit is accepted.
	runID, err := b.flow.Start(b.ctx, fourNodeWorkflow())
	require.NoError(t, err)
	require.Equal(t, 4, b.getRun(t, runID).NodeCount)
}

func TestStartMaxNodesSetting(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("SQL", func(t *testing.T) {
		conn, err := b.pool.Acquire(b.ctx)
		require.NoError(t, err)
		defer conn.Release()
		_, err = conn.Exec(b.ctx, "SET flow.max_nodes = 3")
		require.NoError(t, err)
		defer func() { _, _ = conn.Exec(b.ctx, "RESET flow.max_nodes") }()

		var runID int64
		err = conn.QueryRow(b.ctx, "SELECT flow.start($1::jsonb)", fourNodes).Scan(&runID)
		requireSQLSpecError(t, err, tooManyProblem)
		requireNoRows(t, b.ctx, b.pool)
	})

	t.Run("Go", func(t *testing.T) {
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(b.ctx) }()
		_, err = tx.Exec(b.ctx, "SET LOCAL flow.max_nodes = 3")
		require.NoError(t, err)

		_, err = b.flow.StartTx(b.ctx, tx, fourNodeWorkflow())
		requireSpecError(t, err, tooManyProblem)
		require.NoError(t, tx.Rollback(b.ctx))
		requireNoRows(t, b.ctx, b.pool)
	})

	// The argument and the setting may each only lower the limit: the lower
	// of the two wins, whichever it is.
	t.Run("TheLowerWins", func(t *testing.T) {
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(b.ctx) }()
		_, err = tx.Exec(b.ctx, "SET LOCAL flow.max_nodes = 3")
		require.NoError(t, err)

		_, err = flow.NewClient(b.pool, &flow.Config{MaxNodes: 4}).StartTx(b.ctx, tx, flow.JSONSpec(fourNodes))
		requireSpecError(t, err, tooManyProblem)
	})
}

func TestStartAcceptsIDOf128Characters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id128 := strings.Repeat("Az09_.:-", 16)
	require.Len(t, id128, 128)

	sqlRun := b.startSQL(t, `{"nodes": [{"id": "`+id128+`", "kind": "noop"}]}`)

	w := flow.New("long id")
	w.Add(id128, jobs.NoopArgs{})
	goRun, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	for _, runID := range []int64{sqlRun, goRun} {
		nodes := b.nodes(t, runID)
		require.Len(t, nodes, 1)
		require.Equal(t, "available", nodes[id128].State)
	}
}

// doorRow is what a start writes for one node, with job and run ids left
// out (they differ between two starts) and edges given as node ids.
type doorRow struct {
	NodeID      string
	Kind        string
	Args        map[string]any
	Queue       string
	Priority    int
	MaxAttempts int
	State       string
	Metadata    map[string]any
	Delayed     *time.Time // scheduled_at when in the future
	Parents     []string
	Children    []string
	Waiting     int
}

func (b *testBundle) doorRows(t *testing.T, runID int64) []doorRow {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT n.node_id, j.kind, j.args, j.queue, j.priority, j.max_attempts, j.state::text,
		       j.metadata - 'flow_run',
		       CASE WHEN j.scheduled_at > now() + interval '1 minute' THEN j.scheduled_at END,
		       ARRAY(SELECT p.node_id FROM flow.node p WHERE p.job_id = ANY (n.parents) ORDER BY p.node_id),
		       ARRAY(SELECT c.node_id FROM flow.node c WHERE c.job_id = ANY (n.children) ORDER BY c.node_id),
		       n.waiting,
		       (j.metadata ->> 'flow_run')::bigint = n.run_id
		  FROM flow.node n JOIN river_job j ON j.id = n.job_id
		 WHERE n.run_id = $1
		 ORDER BY j.id`, runID)
	require.NoError(t, err)
	var out []doorRow
	for rows.Next() {
		var r doorRow
		var runMatches bool
		require.NoError(t, rows.Scan(&r.NodeID, &r.Kind, &r.Args, &r.Queue, &r.Priority, &r.MaxAttempts, &r.State,
			&r.Metadata, &r.Delayed, &r.Parents, &r.Children, &r.Waiting, &runMatches))
		require.True(t, runMatches, "node %q: metadata flow_run is its run", r.NodeID)
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestStartBothDoorsWriteIdenticalRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	at := time.Now().UTC().AddDate(0, 6, 0).Truncate(time.Second) // within the default max_delay (366 days)

	sqlRun := b.startSQL(t, fmt.Sprintf(`{"name": "same", "input": {"path": "/src", "n": [1, 2]},
		"nodes": [
			{"id": "a", "kind": "echo", "args": {"x": 1, "y": "two"}},
			{"id": "b", "kind": "sleep", "args": {"ms": 5}, "deps": ["a"], "queue": "slow", "priority": 2, "max_attempts": 3},
			{"id": "c", "kind": "noop", "deps": ["a"]},
			{"id": "d", "kind": "fail", "args": {"times": 1}, "deps": ["b", "c"]},
			{"id": "opted", "kind": "opted", "args": {"n": 4}, "queue": "opts", "priority": 3, "max_attempts": 7, "deps": ["a"]},
			{"id": "later", "kind": "echo", "args": {}, "at": %q},
			{"id": "after-later", "kind": "noop", "deps": ["later", "d"]}]}`, at.Format(time.RFC3339)))

	w := flow.New("same").Input(map[string]any{"path": "/src", "n": []int{1, 2}})
	a := w.Add("a", jobs.EchoArgs{"x": 1, "y": "two"})
	bb := w.Add("b", jobs.SleepArgs{MS: 5}, flow.After(a), flow.WithQueue("slow"), flow.WithPriority(2), flow.WithMaxAttempts(3))
	c := w.Add("c", jobs.NoopArgs{}, flow.After(a))
	d := w.Add("d", jobs.FailArgs{Times: 1}, flow.After(bb, c))
	w.Add("opted", optedArgs{N: 4}, flow.After(a))
	later := w.Add("later", jobs.EchoArgs{}, flow.WithAt(at))
	w.Add("after-later", jobs.NoopArgs{}, flow.After(later, d))
	goRun, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	require.NotEqual(t, sqlRun, goRun)

	sqlRows, goRows := b.doorRows(t, sqlRun), b.doorRows(t, goRun)
	require.Equal(t, sqlRows, goRows)

	// And the rows are what the spec says.
	require.Len(t, sqlRows, 7)
	byID := map[string]doorRow{}
	for _, r := range sqlRows {
		byID[r.NodeID] = r
	}
	require.Equal(t, doorRow{
		NodeID: "b", Kind: "sleep", Args: map[string]any{"ms": float64(5)}, Queue: "slow", Priority: 2, MaxAttempts: 3,
		State: "pending", Metadata: map[string]any{"flow_node": "b"}, Parents: []string{"a"}, Children: []string{"d"}, Waiting: 1,
	}, byID["b"])
	require.Equal(t, doorRow{
		NodeID: "c", Kind: "noop", Args: map[string]any{}, Queue: "default", Priority: 1, MaxAttempts: 25,
		State: "pending", Metadata: map[string]any{"flow_node": "c"}, Parents: []string{"a"}, Children: []string{"d"}, Waiting: 1,
	}, byID["c"])
	require.Equal(t, "available", byID["a"].State)
	require.Equal(t, []string{"b", "c", "opted"}, byID["a"].Children)
	require.Equal(t, "opts", byID["opted"].Queue)
	require.Equal(t, 3, byID["opted"].Priority)
	require.Equal(t, 7, byID["opted"].MaxAttempts)
	require.Equal(t, "scheduled", byID["later"].State)
	require.NotNil(t, byID["later"].Delayed)
	require.True(t, at.Equal(*byID["later"].Delayed), "later is scheduled at %s, not %s", byID["later"].Delayed, at)
	require.Equal(t, 2, byID["after-later"].Waiting)

	sqlR, goR := b.getRun(t, sqlRun), b.getRun(t, goRun)
	for _, r := range []*flow.Run{sqlR, goR} {
		require.Equal(t, "same", r.Name)
		require.JSONEq(t, `{"path": "/src", "n": [1, 2]}`, string(r.Input))
		require.Equal(t, flow.RunStatePending, r.State)
		require.Equal(t, 7, r.NodeCount)
		require.Equal(t, 7, r.Unfinished)
		require.Zero(t, r.Failed)
		require.Nil(t, r.StartedAt)
		require.Nil(t, r.FinishedAt)
		flowtest.RequireInvariants(b.ctx, t, b.pool, r.ID)
	}
}

func TestStartTxRolledBackLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	runID, err := b.flow.StartTx(b.ctx, tx, fourNodeWorkflow())
	require.NoError(t, err)
	require.Positive(t, runID)

	// Visible inside the transaction, nowhere else.
	var inTx int
	require.NoError(t, tx.QueryRow(b.ctx, "SELECT count(*) FROM flow.node WHERE run_id = $1", runID).Scan(&inTx))
	require.Equal(t, 4, inTx)
	requireNoRows(t, b.ctx, b.pool)

	require.NoError(t, tx.Rollback(b.ctx))
	requireNoRows(t, b.ctx, b.pool)
	_, err = b.flow.GetRun(b.ctx, runID)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
}

func TestStartTxJSONSpecRolledBackLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = b.flow.StartTx(b.ctx, tx, flow.JSONSpec(fourNodes))
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(b.ctx))
	requireNoRows(t, b.ctx, b.pool)
}

func TestStartSQLInTxRolledBackLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)

	err := pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		var runID int64
		if err := tx.QueryRow(b.ctx, "SELECT flow.start($1::jsonb)", fourNodes).Scan(&runID); err != nil {
			return err
		}
		var jobCount int
		if err := tx.QueryRow(b.ctx, "SELECT count(*) FROM river_job").Scan(&jobCount); err != nil {
			return err
		}
		if jobCount != 4 {
			return fmt.Errorf("%d jobs inside the transaction, want 4", jobCount)
		}
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	requireNoRows(t, b.ctx, b.pool)
}

var errRollback = errors.New("roll back")

func TestStartCommittedRootsAvailableOthersPending(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	runID, err := b.flow.StartTx(b.ctx, tx, fourNodeWorkflow())
	require.NoError(t, err)
	require.NoError(t, tx.Commit(b.ctx))

	require.Equal(t, map[string]string{"a": "available", "b": "available", "c": "pending", "d": "pending"}, b.states(t, runID))
	nodes := b.nodes(t, runID)
	require.Equal(t, 0, nodes["a"].Waiting)
	require.Equal(t, 1, nodes["c"].Waiting)
	require.Equal(t, 2, nodes["d"].Waiting)
	run := b.getRun(t, runID)
	require.Equal(t, flow.RunStatePending, run.State)
	require.Equal(t, 4, run.Unfinished)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// The Go builder's node options land in the spec as given.
func TestWorkflowSpecCarriesOptions(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

	w := flow.New("opts").Input(map[string]int{"n": 1})
	a := w.Add("a", optedArgs{N: 1})
	w.Add("b", optedArgs{N: 2}, flow.After(a), flow.WithQueue("q2"), flow.WithPriority(4), flow.WithMaxAttempts(9), flow.WithAt(at))
	spec, err := w.Spec()
	require.NoError(t, err)

	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	require.JSONEq(t, `{"name": "opts", "input": {"n": 1}, "nodes": [
		{"id": "a", "kind": "opted", "args": {"n": 1}, "queue": "opts", "priority": 3, "max_attempts": 7},
		{"id": "b", "kind": "opted", "args": {"n": 2}, "deps": ["a"], "queue": "q2", "priority": 4, "max_attempts": 9,
		 "at": "2030-05-06T07:08:09Z"}]}`, string(raw))
}
