package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/testdb"
	"github.com/htdag/htdag/migrations"
)

// emptyPool is a pool on a brand-new, unmigrated database, dropped at the end.
func emptyPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testdb.Empty(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func TestUpAppliesEverythingOnceThenNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyPool(t)

	all, err := migrations.All()
	require.NoError(t, err)
	require.NotEmpty(t, all)

	res, err := migrations.Up(ctx, pool, nil)
	require.NoError(t, err)
	require.NotEmpty(t, res.RiverVersions)
	require.Len(t, res.Applied(), len(all))

	rows, err := pool.Query(ctx, "SELECT version FROM flow.schema_migration WHERE line = 'flow' ORDER BY version")
	require.NoError(t, err)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Len(t, versions, len(all))
	for i, m := range all {
		require.EqualValues(t, m.Version, versions[i])
	}

	again, err := migrations.Up(ctx, pool, nil)
	require.NoError(t, err)
	require.Empty(t, again.RiverVersions)
	require.Empty(t, again.Applied())
}

func TestAllIsOrderedAndNamed(t *testing.T) {
	t.Parallel()
	all, err := migrations.All()
	require.NoError(t, err)
	retired := migrations.Line().Retired
	next := 1
	for _, m := range all {
		for retired[next] != "" {
			next++
		}
		require.Equal(t, next, m.Version, "versions are 1, 2, 3, ... without gaps but retired ones")
		next++
		require.NotEmpty(t, m.Name)
		require.NotEmpty(t, m.SQL)
	}
}

// A migration changed after it was applied is refused, naming it.
func TestUpRefusesAChangedMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := pool.Exec(ctx, `UPDATE flow.schema_migration SET checksum = 'not the same' WHERE version = 2`)
	require.NoError(t, err)

	_, err = migrations.Up(ctx, pool, nil)
	require.ErrorContains(t, err, "flow migration 0002_flow_start was changed after it was applied")
}
