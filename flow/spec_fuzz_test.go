package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowtest"
)

// specSeeds are valid and nearly valid specs the fuzzers start from.
var specSeeds = []string{
	`{"nodes": [{"id": "a", "kind": "noop"}]}`,
	`{"name": "diamond", "input": {"x": 1}, "nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]},
		{"id": "c", "kind": "noop", "deps": ["a"], "queue": "q", "priority": 2, "max_attempts": 3}, {"id": "d", "kind": "noop", "deps": ["b", "c"]}]}`,
	`{"key": "k", "max_depth": 3, "max_tree_nodes": 100, "output": "s", "nodes": [{"id": "g", "kind": "noop"},
		{"id": "m", "map": "g", "kind": "noop", "timeout_ms": 1000},
		{"id": "s", "deps": ["m"], "workflow": {"name": "sub", "nodes": [{"id": "x", "kind": "noop", "at": "2026-01-02T15:04:05Z"}]}}]}`,
	`{"nodes": [{"id": "a", "kind": "noop", "deps": ["b"]}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`,
	`{"nodes": [{"id": "g", "kind": "noop"}, {"id": "m", "map": "g", "workflow": {"nodes": [{"id": "y", "kind": "noop"}]}}]}`,
}

// specOutcome starts spec (JSON text) as a starter would and checks the one
// thing the SQL door promises for any input: a run (which must finish, here
// by a cancel, and satisfy the engine's invariants), or SQLSTATE 22023 or
// 42501 naming the problem with nothing written. It returns a description of
// a broken promise, or "".
func specOutcome(ctx context.Context, t *testing.T, pool *pgxpool.Pool, spec string) string {
	var runID int64
	err := pool.QueryRow(ctx, "SELECT flow.start($1::jsonb)", spec).Scan(&runID)
	if err == nil {
		var cancelled bool
		if err := pool.QueryRow(ctx, "SELECT flow.cancel($1)", runID).Scan(&cancelled); err != nil {
			return fmt.Sprintf("cancelling run %d: %v", runID, err)
		}
		var state string
		if err := pool.QueryRow(ctx, "SELECT state FROM flow.run WHERE id = $1", runID).Scan(&state); err != nil || state != "cancelled" {
			return fmt.Sprintf("run %d is %q after its cancel (%v)", runID, state, err)
		}
		var problems int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM flow.run r CROSS JOIN LATERAL flow.check(r.id) c
			WHERE (r.id = $1 OR r.root_run_id = $1) AND c.category IN ('consistency', 'stuck')`, runID).Scan(&problems); err != nil || problems > 0 {
			return fmt.Sprintf("run %d: %d problems (%v)", runID, problems, err)
		}
		return ""
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Sprintf("not a database error: %v", err)
	}
	if pgErr.Code != "22023" && pgErr.Code != "42501" {
		return fmt.Sprintf("SQLSTATE %s: %s", pgErr.Code, pgErr.Message)
	}
	return ""
}

// rowCounts counts what flow.start writes.
func rowCounts(ctx context.Context, pool *pgxpool.Pool) (runs, nodes, jobs int, err error) {
	err = pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM flow.run), (SELECT count(*) FROM flow.node), (SELECT count(*) FROM river_job)").
		Scan(&runs, &nodes, &jobs)
	return
}

// FuzzStartSpec: whatever the JSON, flow.start writes a run or nothing and
// answers 22023/42501. `go test` runs the seeds; `go test -fuzz
// FuzzStartSpec ./flow` explores.
func FuzzStartSpec(f *testing.F) {
	for _, s := range specSeeds {
		f.Add(s)
	}
	f.Add(`{"nodes": [{"id": "a", "kind": "noop", "max_attempts": "1e9"}]}`)
	f.Add(`{"max_depth": "abc", "nodes": []}`)
	b := setupTB(f)
	f.Fuzz(func(t *testing.T, spec string) {
		var ok bool
		if !json.Valid([]byte(spec)) || !utf8.ValidString(spec) ||
			b.pool.QueryRow(b.ctx, "SELECT $1::jsonb IS NOT NULL", spec).Scan(&ok) != nil {
			t.Skip("not JSON text jsonb can hold: the ::jsonb cast refuses it before flow.start")
		}
		runs, nodes, jobs, err := rowCounts(b.ctx, b.pool)
		require.NoError(t, err)
		var before, after int64
		_ = b.pool.QueryRow(b.ctx, "SELECT count(*) FROM flow.run").Scan(&before)
		if broken := specOutcome(b.ctx, t, b.pool, spec); broken != "" {
			t.Fatalf("spec %.300s: %s", spec, broken)
		}
		_ = b.pool.QueryRow(b.ctx, "SELECT count(*) FROM flow.run").Scan(&after)
		if after == before {
			r2, n2, j2, err := rowCounts(b.ctx, b.pool)
			require.NoError(t, err)
			require.Equal(t, []int{runs, nodes, jobs}, []int{r2, n2, j2}, "a refused spec wrote rows: %.300s", spec)
		}
	})
}

// setupTB is setup for a fuzz target's one database.
func setupTB(f *testing.F) *testBundle {
	f.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	pool := flowtest.NewPool(f)
	return &testBundle{ctx: ctx, pool: pool}
}

// 5,000 mutated specs through the SQL door, deterministically: each one a
// run that finishes or a clean 22023/42501 with nothing written.
func TestStartSpecMutations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background()) // longer than setup's deadline
	defer cancel()
	rng := rand.New(rand.NewPCG(20261127, 12))
	var seeds []any
	for _, s := range specSeeds {
		var v any
		require.NoError(t, json.Unmarshal([]byte(s), &v))
		seeds = append(seeds, v)
	}
	const cases = 5000
	var broken []string
	started := 0
	for i := range cases {
		v := mutate(rng, deepCopy(seeds[rng.IntN(len(seeds))]), 1+rng.IntN(4))
		spec, err := json.Marshal(v)
		require.NoError(t, err)
		runs, nodes, jobs, err := rowCounts(ctx, b.pool)
		require.NoError(t, err)
		if msg := specOutcome(ctx, t, b.pool, string(spec)); msg != "" {
			broken = append(broken, fmt.Sprintf("case %d: %s\n  spec: %.400s", i, msg, spec))
			if len(broken) >= 10 {
				break
			}
			continue
		}
		r2, n2, j2, err := rowCounts(ctx, b.pool)
		require.NoError(t, err)
		if r2 == runs {
			if n2 != nodes || j2 != jobs {
				broken = append(broken, fmt.Sprintf("case %d: refused, yet wrote %d nodes and %d jobs\n  spec: %.400s", i, n2-nodes, j2-jobs, spec))
			}
		} else {
			started++
		}
	}
	require.Empty(t, broken, strings.Join(broken, "\n"))
	t.Logf("%d cases, %d started runs (each cancelled and checked), the rest refused with 22023/42501", cases, started)
	require.Positive(t, started, "the mutations keep some specs valid")
}

// mutate applies n random edits to a decoded JSON value.
func mutate(rng *rand.Rand, v any, n int) any {
	for range n {
		v = mutateOnce(rng, v, 0)
	}
	return v
}

func mutateOnce(rng *rand.Rand, v any, depth int) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		if len(keys) == 0 || rng.IntN(6) == 0 {
			x[specKeys[rng.IntN(len(specKeys))]] = randomValue(rng, depth)
			return x
		}
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(5) {
		case 0:
			delete(x, k)
		case 1:
			x[k] = randomValue(rng, depth)
		default:
			x[k] = mutateOnce(rng, x[k], depth+1)
		}
		return x
	case []any:
		if len(x) == 0 || rng.IntN(5) == 0 {
			return append(x, randomValue(rng, depth))
		}
		i := rng.IntN(len(x))
		switch rng.IntN(5) {
		case 0:
			return append(x[:i], x[i+1:]...)
		case 1:
			return append(x, deepCopy(x[i])) // a duplicate
		default:
			x[i] = mutateOnce(rng, x[i], depth+1)
			return x
		}
	}
	if rng.IntN(3) == 0 {
		return randomValue(rng, depth)
	}
	return v
}

// specKeys are keys the spec and its nodes know, and a few they do not.
var specKeys = []string{"id", "kind", "args", "deps", "queue", "priority", "max_attempts", "at", "timeout_ms", "workflow", "map",
	"name", "input", "nodes", "key", "output", "max_depth", "max_tree_nodes", "retries", "", "flow_run"}

func randomValue(rng *rand.Rand, depth int) any {
	switch rng.IntN(16) {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return rng.IntN(10)
	case 3:
		return []float64{-1, 0, 1.5, 1e9, 1e99, 2147483648, 32768, 4}[rng.IntN(8)]
	case 4:
		return "noop"
	case 5:
		return []string{"a", "b", "c", "d", "x", "g", "m", "s"}[rng.IntN(8)]
	case 6:
		return []string{"", " ", "flow.start", "flow.map", "flow.workflow", "Noop", "Bad Queue", "q", "default", "2026-01-02T15:04:05Z",
			"9999-12-31T23:59:59Z", "infinity", "tomorrow", "a\u0001b", "a\x1b[2Jb", "é", strings.Repeat("z", 200)}[rng.IntN(17)]
	case 7:
		return []any{"a", "b"}
	case 8:
		if depth < 4 {
			return map[string]any{"nodes": []any{map[string]any{"id": "n", "kind": "noop"}}}
		}
		return map[string]any{}
	case 9:
		return map[string]any{"id": fmt.Sprint(rng.IntN(5)), "kind": "noop", "deps": []any{fmt.Sprint(rng.IntN(5))}}
	case 10:
		return []any{}
	case 11:
		return map[string]any{}
	case 12:
		return strings.Repeat("[", rng.IntN(3))
	default:
		return "c"
	}
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
