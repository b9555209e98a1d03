package flow_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

func diamond(name string) *flow.Workflow {
	w := flow.New(name)
	a := w.Add("a", jobs.NoopArgs{})
	b := w.Add("b", jobs.NoopArgs{}, flow.After(a))
	c := w.Add("c", jobs.NoopArgs{}, flow.After(a))
	w.Add("d", jobs.NoopArgs{}, flow.After(b, c))
	return w
}

// StartMany starts every run, in order, and the workers finish them all.
func TestStartManyStartsEveryRunInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	ids, err := b.flow.StartMany(b.ctx, diamond("one"), diamond("two"), diamond("three"))
	require.NoError(t, err)
	require.Len(t, ids, 3)
	require.Less(t, ids[0], ids[1])
	require.Less(t, ids[1], ids[2])
	for i, name := range []string{"one", "two", "three"} {
		run := b.wait(t, ids[i])
		require.Equal(t, name, run.Name)
		require.Equal(t, flow.RunStateCompleted, run.State)
		flowtest.RequireInvariants(b.ctx, t, b.pool, ids[i])
	}
}

// One invalid spec rejects the whole call, names its position, and leaves
// no row of the valid ones either.
func TestStartManyRejectsAllWhenOneIsInvalid(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.flow.StartMany(b.ctx,
		flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop"}]}`),
		flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop", "deps": ["zz"]}]}`))
	var specErr *flow.SpecError
	require.True(t, errors.As(err, &specErr), "got %v", err)
	require.Equal(t, `spec #2: node "a" depends on unknown node "zz"`, specErr.Problem)
	requireNoRows(t, b.ctx, b.pool)

	_, err = b.flow.StartMany(b.ctx, diamond("ok"), flow.New("empty"))
	require.True(t, errors.As(err, &specErr), "got %v", err)
	require.Equal(t, "spec #2: the workflow has no nodes", specErr.Problem)
	requireNoRows(t, b.ctx, b.pool)
}

// StartManyTx commits with the caller's transaction, or not at all.
func TestStartManyTxRollsBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	ids, err := b.flow.StartManyTx(b.ctx, tx, diamond("x"), diamond("y"))
	require.NoError(t, err)
	require.Len(t, ids, 2)
	require.NoError(t, tx.Rollback(b.ctx))
	requireNoRows(t, b.ctx, b.pool)
}
