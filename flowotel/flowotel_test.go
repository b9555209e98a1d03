package flowotel_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowotel"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// spans is what an in-process exporter received, by span ID.
type spans map[string]tracetest.SpanStub

func (s spans) byName(prefix string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, sp := range s {
		if len(sp.Name) >= len(prefix) && sp.Name[:len(prefix)] == prefix {
			out = append(out, sp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartTime.Before(out[j].StartTime) })
	return out
}

func nodeOf(sp tracetest.SpanStub) string {
	for _, a := range sp.Attributes {
		if a.Key == "flow.node_id" {
			return a.Value.AsString()
		}
	}
	return ""
}

// traced starts River with tracing to an in-memory exporter and returns a
// function that waits for wantRuns run spans and wantNodes node spans and
// returns every span. A run's span may be exported before its last node's:
// the node's span ends after its completion committed, which finishes the
// run.
func traced(t *testing.T) (*flow.Client, func(wantRuns, wantNodes int) spans) {
	t.Helper()
	pool := flowtest.NewPool(t)
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter), sdktrace.WithIDGenerator(flowotel.IDGenerator()))
	workers := river.NewWorkers()
	jobs.Register(workers)
	config := flowtest.RiverConfig(pool, workers)
	tracing, err := flowotel.Install(config, pool, flowotel.Options{TracerProvider: tp})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tracing.Start(ctx)
	flowtest.StartRiver(t, pool, config)
	return flow.NewClient(pool, nil), func(wantRuns, wantNodes int) spans {
		t.Helper()
		var got spans
		require.Eventually(t, func() bool {
			got = spans{}
			for _, s := range exporter.GetSpans() {
				got[s.SpanContext.SpanID().String()] = s
			}
			return len(got.byName("flow.run")) == wantRuns && len(got.byName("river.work/")) >= wantNodes
		}, 20*time.Second, 10*time.Millisecond, "run and node spans")
		return got
	}
}

func wait(t *testing.T, c *flow.Client, spec string) *flow.Run {
	t.Helper()
	id, err := c.Start(context.Background(), flow.JSONSpec(spec))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.Wait(ctx, id)
	require.NoError(t, err)
	return run
}

// One run gives one trace: the run's span at the root, a span per node
// under it, and each node span linked to its parents' spans: the DAG.
func TestOneRunOneTraceShapedLikeItsDAG(t *testing.T) {
	t.Parallel()
	c, collect := traced(t)
	run := wait(t, c, `{"name": "diamond", "nodes": [
		{"id": "a", "kind": "echo"}, {"id": "b", "kind": "echo", "deps": ["a"]},
		{"id": "c", "kind": "noop", "deps": ["a"]}, {"id": "d", "kind": "echo", "deps": ["b", "c"]}]}`)
	require.Equal(t, flow.RunStateCompleted, run.State)
	got := collect(1, 4)

	runSpan := got.byName("flow.run")[0]
	require.Equal(t, "flow.run diamond", runSpan.Name)
	require.False(t, runSpan.Parent.IsValid(), "the run's span is the root")
	require.Equal(t, run.CreatedAt.UnixMicro(), runSpan.StartTime.UnixMicro())
	require.Equal(t, run.FinishedAt.UnixMicro(), runSpan.EndTime.UnixMicro())
	trace := runSpan.SpanContext.TraceID()

	nodes := got.byName("river.work/")
	require.Len(t, nodes, 4)
	spanOf := map[string]string{}
	for _, n := range nodes {
		require.Equal(t, trace, n.SpanContext.TraceID(), "one trace")
		require.Equal(t, runSpan.SpanContext.SpanID(), n.Parent.SpanID(), "node %s under the run", nodeOf(n))
		spanOf[n.SpanContext.SpanID().String()] = nodeOf(n)
	}
	edges := map[string][]string{}
	for _, n := range nodes {
		for _, l := range n.Links {
			require.Equal(t, trace, l.SpanContext.TraceID())
			parent, ok := spanOf[l.SpanContext.SpanID().String()]
			require.True(t, ok, "node %s links to a span of the trace", nodeOf(n))
			edges[nodeOf(n)] = append(edges[nodeOf(n)], parent)
		}
	}
	for k := range edges {
		sort.Strings(edges[k])
	}
	require.Equal(t, map[string][]string{"b": {"a"}, "c": {"a"}, "d": {"b", "c"}}, edges)
	require.Len(t, got, 5, "the run and its four nodes, nothing else")
}

// A hierarchical run is one trace too: the child run's span under its
// parent run's, its nodes under it, and the node after the sub-workflow
// linked to the child run's span.
func TestChildRunsJoinTheTrace(t *testing.T) {
	t.Parallel()
	c, collect := traced(t)
	run := wait(t, c, `{"name": "outer", "nodes": [
		{"id": "sub", "workflow": {"name": "inner", "nodes": [{"id": "x", "kind": "noop"}, {"id": "y", "kind": "noop", "deps": ["x"]}]}},
		{"id": "after", "kind": "noop", "deps": ["sub"]}]}`)
	require.Equal(t, flow.RunStateCompleted, run.State)
	got := collect(2, 3)

	runs := map[string]tracetest.SpanStub{}
	for _, r := range got.byName("flow.run") {
		runs[r.Name] = r
	}
	outer, inner := runs["flow.run outer"], runs["flow.run inner"]
	require.Equal(t, outer.SpanContext.TraceID(), inner.SpanContext.TraceID())
	require.Equal(t, outer.SpanContext.SpanID(), inner.Parent.SpanID())
	parents := map[string]string{}
	for _, n := range got.byName("river.work/") {
		require.Equal(t, outer.SpanContext.TraceID(), n.SpanContext.TraceID())
		parents[nodeOf(n)] = n.Parent.SpanID().String()
		if nodeOf(n) == "after" {
			require.Len(t, n.Links, 1)
			require.Equal(t, inner.SpanContext.SpanID(), n.Links[0].SpanContext.SpanID(), "after follows the child run")
		}
	}
	require.Equal(t, map[string]string{
		"x": inner.SpanContext.SpanID().String(), "y": inner.SpanContext.SpanID().String(), "after": outer.SpanContext.SpanID().String(),
	}, parents)
}

// A provider without flowotel's ID generator is refused, saying what to do.
func TestInstallNeedsTheIDGenerator(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	_, err := flowotel.Install(flow.RiverConfig(pool, nil), pool, flowotel.Options{TracerProvider: sdktrace.NewTracerProvider()})
	require.ErrorContains(t, err, "flowotel.IDGenerator")
	_, err = flowotel.Install(flow.RiverConfig(pool, nil), pool, flowotel.Options{})
	require.ErrorContains(t, err, "TracerProvider is required")
}
