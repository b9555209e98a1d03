package flow_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// A key always goes to the same database; keys spread over the databases;
// and a database added at the end takes about 1/n of the keys from the
// others, moving no key between the old ones.
func TestRouterShards(t *testing.T) {
	t.Parallel()
	clients := func(n int) []*flow.Client {
		out := make([]*flow.Client, n)
		for i := range out {
			out[i] = &flow.Client{}
		}
		return out
	}
	r4, err := flow.NewRouter(clients(4)...)
	require.NoError(t, err)
	r5, err := flow.NewRouter(clients(5)...)
	require.NoError(t, err)
	const keys = 20_000
	counts := make([]int, 4)
	moved := 0
	for i := range keys {
		key := fmt.Sprintf("tenant-%d", i)
		s4 := r4.Shard(key)
		require.Equal(t, s4, r4.Shard(key), "stable")
		counts[s4]++
		if s5 := r5.Shard(key); s5 != s4 {
			require.Equal(t, 4, s5, "a key that moves goes to the new database")
			moved++
		}
	}
	for shard, n := range counts {
		require.InDelta(t, keys/4, n, keys/4*0.1, "database %d holds %d of %d keys", shard, n, keys)
	}
	require.InDelta(t, keys/5, moved, keys/5*0.1, "%d keys moved", moved)

	_, err = flow.NewRouter()
	require.ErrorContains(t, err, "no clients")
	_, err = flow.NewRouter(&flow.Client{}, nil)
	require.ErrorContains(t, err, "client 1 is nil")
}

// Starts routed by key land in the key's database, and a spec's idempotency
// key, used as the routing key, holds across the router: the same start
// twice is one run.
func TestRouterStartsInTheKeysDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pools := []*pgxpool.Pool{flowtest.NewPool(t), flowtest.NewPool(t)}
	clients := make([]*flow.Client, len(pools))
	for i, p := range pools {
		clients[i] = flow.NewClient(p, nil)
	}
	router, err := flow.NewRouter(clients...)
	require.NoError(t, err)

	seen := map[int]bool{}
	for i := range 8 {
		key := fmt.Sprintf("repo-%d", i)
		spec := flow.JSONSpec(fmt.Sprintf(`{"key": %q, "nodes": [{"id": "a", "kind": "noop"}]}`, key))
		ref, err := router.Start(ctx, key, spec)
		require.NoError(t, err)
		require.Equal(t, router.Shard(key), ref.Shard)
		seen[ref.Shard] = true
		again, err := router.Start(ctx, key, spec)
		require.NoError(t, err)
		require.Equal(t, ref, again, "same key, same database, same run")
		var runs int
		require.NoError(t, pools[ref.Shard].QueryRow(ctx,
			"SELECT count(*) FROM flow.run WHERE id = $1 AND key = $2", ref.RunID, key).Scan(&runs))
		require.Equal(t, 1, runs)
	}
	require.Len(t, seen, 2, "eight keys use both databases")
	_, err = router.Wait(ctx, flow.RunRef{Shard: 2, RunID: 1})
	require.ErrorContains(t, err, "shard 2 is not one of the router's 2 databases")
}
