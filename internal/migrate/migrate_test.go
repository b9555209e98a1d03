package migrate_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/migrate"
	"github.com/htdag/htdag/internal/testdb"
)

func emptyPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testdb.Empty(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func files(kv ...string) fstest.MapFS {
	fs := fstest.MapFS{}
	for i := 0; i < len(kv); i += 2 {
		fs[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return fs
}

func recorded(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		"SELECT line || ' ' || version || ' ' || name FROM flow.schema_migration ORDER BY line, version")
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// Two lines keep their own version numbers in one table.
func TestLinesAreRecordedApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyPool(t)
	engine := migrate.Line{Name: "flow", Files: files("0001_a.sql", "CREATE TABLE public.a (x int);")}
	app := migrate.Line{Name: "app", Files: files("0001_b.sql", "CREATE TABLE public.b (x int);", "0002_c.sql", "ALTER TABLE public.b ADD y int;")}

	res, err := migrate.Up(ctx, pool, engine, nil)
	require.NoError(t, err)
	require.Len(t, res.Applied, 1)
	ok, err := migrate.Applied(ctx, pool, app)
	require.NoError(t, err)
	require.False(t, ok)

	res, err = migrate.Up(ctx, pool, app, nil)
	require.NoError(t, err)
	require.Len(t, res.Applied, 2)
	require.Equal(t, []string{"app 1 b", "app 2 c", "flow 1 a"}, recorded(t, pool))
	ok, err = migrate.Applied(ctx, pool, app)
	require.NoError(t, err)
	require.True(t, ok)

	again, err := migrate.Up(ctx, pool, app, nil)
	require.NoError(t, err)
	require.Empty(t, again.Applied)
}

// A database migrated before lines existed (one version column as the key)
// is upgraded in place: its rows become the engine's.
func TestUpgradesRecordsFromBeforeLines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyPool(t)
	engine := migrate.Line{Name: "flow", Files: files("0001_a.sql", "CREATE TABLE public.a (x int);", "0002_b.sql", "CREATE TABLE public.b (x int);")}
	all, err := engine.All()
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		CREATE SCHEMA flow;
		CREATE TABLE flow.schema_migration (version integer PRIMARY KEY, name text NOT NULL,
		                                    applied_at timestamptz NOT NULL DEFAULT now(), checksum text);
		CREATE TABLE public.a (x int);`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO flow.schema_migration (version, name, checksum) VALUES (1, 'a', $1)", all[0].Checksum())
	require.NoError(t, err)

	res, err := migrate.Up(ctx, pool, engine, nil)
	require.NoError(t, err)
	require.Len(t, res.Applied, 1, "only 0002 runs; 0001 was recorded before lines")
	require.Equal(t, 2, res.Applied[0].Version)
	require.Equal(t, []string{"flow 1 a", "flow 2 b"}, recorded(t, pool))

	// The same version in another line is now allowed.
	_, err = pool.Exec(ctx, "INSERT INTO flow.schema_migration (line, version, name) VALUES ('other', 1, 'x')")
	require.NoError(t, err)
}

// A line that takes over objects an older release made under another line
// records them as applied without running them.
func TestAdoptRecordsWithoutRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyPool(t)
	_, err := pool.Exec(ctx, "CREATE TABLE public.shop (x int)")
	require.NoError(t, err)
	app := migrate.Line{
		Name: "app",
		// Running 0001 again would fail: the table exists.
		Files: files("0001_shop.sql", "CREATE TABLE public.shop (x int);", "0002_more.sql", "ALTER TABLE public.shop ADD y int;"),
		Adopt: func(ctx context.Context, tx pgx.Tx) ([]int, error) {
			var exists bool
			err := tx.QueryRow(ctx, "SELECT to_regclass('public.shop') IS NOT NULL").Scan(&exists)
			if exists {
				return []int{1}, err
			}
			return nil, err
		},
	}
	res, err := migrate.Up(ctx, pool, app, nil)
	require.NoError(t, err)
	require.Equal(t, []int{1}, res.Adopted)
	require.Len(t, res.Applied, 1)
	require.Equal(t, 2, res.Applied[0].Version)
	var y int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.shop'::regclass AND attname = 'y'").Scan(&y))
	require.Equal(t, 1, y)
}

// A version this binary does not know means a newer release migrated the
// database: refuse, unless the line says the version moved elsewhere.
func TestUnknownVersionsAreRefusedUnlessRetired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyPool(t)
	line := migrate.Line{Name: "flow", Files: files("0001_a.sql", "SELECT 1;")}
	_, err := migrate.Up(ctx, pool, line, nil)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO flow.schema_migration (line, version, name) VALUES ('flow', 7, 'future')")
	require.NoError(t, err)

	_, err = migrate.Up(ctx, pool, line, nil)
	require.ErrorContains(t, err, "this database has flow migration 0007, which this binary does not know")

	line.Retired = map[int]string{7: "app"}
	_, err = migrate.Up(ctx, pool, line, nil)
	require.NoError(t, err)
}

// A failing migration leaves nothing of the run behind.
func TestFailureWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyPool(t)
	line := migrate.Line{Name: "flow", Files: files("0001_a.sql", "CREATE TABLE public.a (x int);", "0002_bad.sql", "SELECT no_such_function();")}
	_, err := migrate.Up(ctx, pool, line, nil)
	require.ErrorContains(t, err, "flow migration 0002_bad")
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('public.a') IS NOT NULL").Scan(&exists))
	require.False(t, exists, "0001 was rolled back with 0002")
}

func TestBadFileNames(t *testing.T) {
	t.Parallel()
	_, err := migrate.Line{Name: "x", Files: files("1_a.sql", "")}.All()
	require.ErrorContains(t, err, `name must be NNNN_name.sql`)
	_, err = migrate.Line{Name: "x", Files: files("0001_a.sql", "", "0001_b.sql", "")}.All()
	require.ErrorContains(t, err, "two migrations have version 1")
}
