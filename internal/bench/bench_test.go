package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/testdb"
)

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestRunQuick runs every shape at its quick size and checks that each one
// produced a result and that every run completed. It asserts no timings.
func TestRunQuick(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rep, err := Run(ctx, pool, Options{Quick: true, Progress: testWriter{t}})
	require.NoError(t, err)
	require.Len(t, rep.Results, len(Shapes()))
	for i, res := range rep.Results {
		require.Equal(t, Shapes()[i], res.Shape)
		require.Positive(t, res.Nodes, res.Shape)
		require.Positive(t, res.NodesPerSec, res.Shape)
		require.Positive(t, res.PeakRSSBytes, res.Shape)
		require.Positive(t, res.DBBytesPerNode, res.Shape)
		require.Equal(t, res.Runs, res.RunsCompleted, "%s: every run completed", res.Shape)
		if res.Shape == ShapeBaseline {
			require.Zero(t, res.Runs)
			continue
		}
		require.Positive(t, res.Runs, res.Shape)
		require.Positive(t, res.Steps, res.Shape)
		require.Contains(t, res.Notes, "completer:", res.Shape)
	}

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	t.Logf("\n%s", table.String())
	for _, s := range Shapes() {
		require.Contains(t, table.String(), s)
	}
	raw, err := json.Marshal(rep)
	require.NoError(t, err)
	var back Report
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, rep.Results, back.Results)

	// Run leaves the tables empty.
	var jobs int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM river_job").Scan(&jobs))
	require.Zero(t, jobs)
}

// TestRunRefusesData: the benchmark truncates the tables, so it must not
// run on a database that holds jobs.
func TestRunRefusesData(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, state) VALUES ('{}', 'noop', 1, 'pending')`)
	require.NoError(t, err)
	_, err = Run(ctx, pool, Options{Quick: true, Shapes: []string{ShapeChain}})
	require.ErrorIs(t, err, ErrNotEmpty)
	var jobs int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM river_job").Scan(&jobs))
	require.Equal(t, 1, jobs)
}

func TestSelectShapes(t *testing.T) {
	t.Parallel()
	got, err := selectShapes([]string{ShapeDefaults, ShapeBaseline})
	require.NoError(t, err)
	require.Equal(t, ShapeBaseline, got[0].name)
	require.Equal(t, ShapeDefaults, got[1].name)
	_, err = selectShapes([]string{"nope"})
	require.ErrorContains(t, err, `unknown shape "nope"`)
}

func TestLayeredIsReproducible(t *testing.T) {
	t.Parallel()
	a := layeredNodes(20, 50, layeredSeed)
	b := layeredNodes(20, 50, layeredSeed)
	require.Equal(t, a, b)
	require.Len(t, a, 1000)
	layerOf := map[string]int{}
	for i, n := range a {
		layerOf[n.ID] = i / 50
	}
	for i, n := range a {
		if i < 50 {
			require.Empty(t, n.Deps)
			continue
		}
		require.GreaterOrEqual(t, len(n.Deps), 1)
		require.LessOrEqual(t, len(n.Deps), 3)
		seen := map[string]bool{}
		for _, d := range n.Deps {
			require.False(t, seen[d], "duplicate parent")
			seen[d] = true
			require.Equal(t, i/50-1, layerOf[d], "parent in the layer above")
		}
	}
}
