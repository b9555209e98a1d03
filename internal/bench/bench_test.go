package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/htdag/htdag/flowtest"
	"github.com/stretchr/testify/require"
)

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestRunQuick runs every shape, the opt-in ones included, at its quick size
// and checks that each one produced a result and that every run completed.
// It asserts no timings.
func TestRunQuick(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rep, err := Run(ctx, pool, Options{Quick: true, Shapes: AllShapes(), Progress: testWriter{t}})
	require.NoError(t, err)
	require.Len(t, rep.Results, len(AllShapes()))
	for i, res := range rep.Results {
		require.Equal(t, AllShapes()[i], res.Shape)
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
		if res.Shape != ShapeMapTree1k && res.Shape != ShapeMapTree100k {
			// A map tree's nodes with parents are all map or sub-workflow
			// nodes, which River never works: they have no step.
			require.Positive(t, res.Steps, res.Shape)
		}
		require.Contains(t, res.Notes, "completer:", res.Shape)
		checkHierarchy(t, res)
	}

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	t.Logf("\n%s", table.String())
	for _, s := range AllShapes() {
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
	pool := flowtest.NewPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, state) VALUES ('{}', 'noop', 1, 'pending')`)
	require.NoError(t, err)
	_, err = Run(ctx, pool, Options{Quick: true, Shapes: []string{ShapeChain}})
	require.ErrorIs(t, err, ErrNotEmpty)
	var jobs int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM river_job").Scan(&jobs))
	require.Equal(t, 1, jobs)
}

// checkHierarchy checks a hierarchy shape's tree figures (none for the
// others): the tree has the levels and child runs its description says, and
// its releases were measured.
func checkHierarchy(t *testing.T, res Result) {
	t.Helper()
	h := res.Hierarchy
	switch res.Shape {
	case ShapeTree1k, ShapeTree100k, ShapeFlatTree1k, ShapeFlatTree100k, ShapeMapTree1k, ShapeMapTree100k:
		require.NotNil(t, h, res.Shape)
	default:
		require.Nil(t, h, res.Shape)
		return
	}
	kinds := map[string]Latency{}
	for _, l := range h.Releases {
		kinds[l.Kind] = l
	}
	switch res.Shape {
	case ShapeTree1k, ShapeTree100k:
		l := (res.Nodes + 2) / 3
		require.Equal(t, l-1, h.ChildRuns, res.Shape)
		require.Equal(t, l-1, h.Parked, res.Shape)
		require.Equal(t, treeDepth(l), h.Depth, res.Shape)
		require.Equal(t, res.Nodes, h.Worked, res.Shape)
		require.Equal(t, 2*(l-1), kinds[ReleaseRunRoot].N, "%s: lo and hi of every expansion", res.Shape)
		require.Equal(t, l-1, kinds[ReleaseTaskParent].N+kinds[ReleaseParkedParent].N, "%s: every sum node", res.Shape)
		require.Zero(t, kinds[ParkedFinish].Max, "%s: a parked node finishes in its child run's last transaction", res.Shape)
	case ShapeFlatTree1k, ShapeFlatTree100k:
		require.Zero(t, h.ChildRuns, res.Shape)
		require.Zero(t, h.Depth, res.Shape)
		require.Equal(t, res.Nodes-1, kinds[ReleaseTaskParent].N, res.Shape)
		require.Len(t, h.Releases, 1, res.Shape)
	case ShapeMapTree1k, ShapeMapTree100k:
		e := mapTreeWidth(res.Nodes)
		require.Equal(t, mapTreeNodes(e), res.Nodes, res.Shape)
		require.Equal(t, 2*e+1, h.ChildRuns, res.Shape)
		require.Equal(t, 3, h.Depth, res.Shape)
		require.Equal(t, 1+e+e*e, h.Worked, res.Shape)
		require.Equal(t, e+e*e, kinds[ReleaseRunRoot].N, res.Shape)
		require.Zero(t, kinds[ParkedFinish].Max, res.Shape)
	}
	if h.FunctionsNote == "" || len(h.Functions) > 0 {
		names := map[string]bool{}
		for _, f := range h.Functions {
			names[f.Name] = true
		}
		require.True(t, names["on_river_job_update"], "%s: %v", res.Shape, h.Functions)
		require.Positive(t, h.TriggerPerNode, res.Shape)
	}
}

func TestSelectShapes(t *testing.T) {
	t.Parallel()
	got, err := selectShapes([]string{ShapeDefaults, ShapeBaseline})
	require.NoError(t, err)
	require.Equal(t, ShapeBaseline, got[0].name)
	require.Equal(t, ShapeDefaults, got[1].name)
	_, err = selectShapes([]string{"nope"})
	require.ErrorContains(t, err, `unknown shape "nope"`)

	// The 100,000-node hierarchy shapes run only when named.
	all, err := selectShapes(nil)
	require.NoError(t, err)
	require.Len(t, all, len(Shapes()))
	require.NotContains(t, Shapes(), ShapeTree100k)
	require.Contains(t, Shapes(), ShapeTree1k)
	got, err = selectShapes([]string{ShapeTree100k})
	require.NoError(t, err)
	require.Equal(t, ShapeTree100k, got[0].name)

	got, err = selectShapes([]string{ShapeBaseline, GroupHierarchy})
	require.NoError(t, err)
	var names []string
	for _, s := range got {
		names = append(names, s.name)
	}
	require.Equal(t, []string{ShapeBaseline, ShapeTree1k, ShapeTree100k, ShapeFlatTree1k, ShapeFlatTree100k,
		ShapeMapTree1k, ShapeMapTree100k}, names)
	got, err = selectShapes([]string{GroupAll})
	require.NoError(t, err)
	require.Len(t, got, len(AllShapes()))
}

// The flat tree is the decompose tree's DAG: 3L-2 nodes for L leaves, and
// the map tree's size formula holds.
func TestTreeSizes(t *testing.T) {
	t.Parallel()
	for _, l := range []int{2, 3, 4, 334, 1000} {
		_, n := flatTreeSpec("t", l)
		require.Equal(t, 3*l-2, n, "leaves %d", l)
	}
	require.Equal(t, 334, treeLeaves(1_000))
	require.Equal(t, 33_334, treeLeaves(100_000))
	require.Equal(t, 9, treeDepth(334))
	require.Equal(t, 16, treeDepth(33_334))
	for _, n := range []int{10, 1_000, 100_000} {
		e := mapTreeWidth(n)
		require.LessOrEqual(t, mapTreeNodes(e), max(n, mapTreeNodes(2)))
		if e > 2 {
			require.Greater(t, mapTreeNodes(e+1), n)
		}
	}
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
