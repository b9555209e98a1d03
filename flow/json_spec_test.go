package flow_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// expandJSONArgs is a node that expands into Spec, given as JSON text (kind
// "expand_json").
type expandJSONArgs struct {
	Spec json.RawMessage `json:"spec"`
}

func (expandJSONArgs) Kind() string { return "expand_json" }

type expandJSONWorker struct {
	river.WorkerDefaults[expandJSONArgs]
}

func (*expandJSONWorker) Work(ctx context.Context, job *river.Job[expandJSONArgs]) error {
	return flow.Expand(ctx, flow.JSONSpec(job.Args.Spec))
}

// A JSONSpec reaches flow.start as it was given: a key Go's Spec does not
// have is rejected by the database's own check, by name and by position.
func TestStartManyJSONSpecIsCheckedBySQL(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.flow.StartMany(b.ctx,
		flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop"}]}`),
		flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop", "retries": 3}]}`))
	requireSpecError(t, err,
		`spec #2: node "a" has unknown key "retries" (allowed: id, kind, args, deps, queue, priority, max_attempts, at, timeout_ms, workflow, map, trigger, if, wait, concurrency)`)
	requireNoRows(t, b.ctx, b.pool)

	_, err = b.flow.StartMany(b.ctx, diamond("ok"), flow.JSONSpec(`{"nodes": [`))
	requireSpecError(t, err, "spec #2: the spec is not valid JSON")
	requireNoRows(t, b.ctx, b.pool)
}

// Nested in a builder, a JSONSpec is decoded, strictly: an unknown key fails
// the build instead of being dropped.
func TestJSONSpecNestedInABuilder(t *testing.T) {
	t.Parallel()

	sub := flow.JSONSpec(`{"name": "sub", "nodes": [{"id": "x", "kind": "noop"}], "output": "x"}`)
	w := flow.New("outer")
	w.AddWorkflow("s", sub)
	spec, err := w.Spec()
	require.NoError(t, err)
	require.Equal(t, &flow.Spec{Name: "sub", Nodes: []flow.NodeSpec{{ID: "x", Kind: "noop"}}, Output: "x"}, spec.Nodes[0].Workflow)

	w = flow.New("outer")
	w.AddWorkflow("s", flow.JSONSpec(`{"nodes": [{"id": "x", "kind": "noop", "retries": 3}]}`))
	_, err = w.Spec()
	requireSpecError(t, err, `node "s": workflow: invalid workflow spec: decoding JSON: json: unknown field "retries"`)

	_, err = flow.JSONSpec(`{"nodes": []} {}`).Spec()
	requireSpecError(t, err, "decoding JSON: more than one value")
}

// Expand takes a JSONSpec too, checked by flow.expand: a valid one runs as
// the node's child run, an invalid one cancels the node with the database's
// message.
func TestExpandJSONSpec(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	runID, err := b.flow.Start(b.ctx, flow.JSONSpec(`{"nodes": [
		{"id": "good", "kind": "expand_json", "args": {"spec": {"nodes": [{"id": "x", "kind": "items", "args": {"items": [1, 2]}}], "output": "x"}}},
		{"id": "bad", "kind": "expand_json", "args": {"spec": {"nodes": [{"id": "x", "kind": "noop", "retries": 3}]}}}]}`))
	require.NoError(t, err)
	require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State)

	nodes := b.nodes(t, runID)
	require.Equal(t, "completed", nodes["good"].State)
	require.JSONEq(t, `[1, 2]`, string(nodes["good"].Output))
	require.Equal(t, "cancelled", nodes["bad"].State)
	require.Contains(t, nodes["bad"].LastError, `htdag: node "bad" cannot expand: invalid workflow spec: node "x" has unknown key "retries"`)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)
}
