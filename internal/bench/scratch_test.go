package bench

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/testdb"
)

// Scratch makes a migrated database of its own, and drop removes it.
func TestScratch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	name, pool, drop, err := Scratch(ctx, testdb.AdminURL(), 3)
	require.NoError(t, err)
	require.Regexp(t, `^htdag_bench_[0-9a-f]{8}$`, name)
	var db string
	var migrated int
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_database(), (SELECT count(*) FROM flow.schema_migration)").Scan(&db, &migrated))
	require.Equal(t, name, db)
	require.Positive(t, migrated)
	require.Equal(t, int32(3), pool.Config().MaxConns)

	require.NoError(t, drop())
	admin, err := pgx.Connect(ctx, testdb.AdminURL())
	require.NoError(t, err)
	defer admin.Close(ctx)
	var exists bool
	require.NoError(t, admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	require.False(t, exists, "the scratch database is gone")
}
