package sql_test

import (
	"context"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/sqlcatalog"
	"github.com/htdag/htdag/internal/testdb"
	htdagsql "github.com/htdag/htdag/sql"
)

// The migrations' own bookkeeping is made by the runner, not by sql/.
var runnerObjects = []string{
	"table flow.schema_migration", "column flow.schema_migration.", "constraint flow.schema_migration.",
	"index flow.schema_migration_",
}

// A database migrated the way users' databases are and one built from sql/
// must have the same flow schema and the same triggers on river_job.
func TestSQLSourceMatchesMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	migrated := testdb.New(t)
	fromSource := sourceDatabase(t)

	a, err := sqlcatalog.Snapshot(ctx, migrated, "flow")
	require.NoError(t, err)
	b, err := sqlcatalog.Snapshot(ctx, fromSource, "flow")
	require.NoError(t, err)
	a, b = a.Without(runnerObjects...), b.Without(runnerObjects...)
	require.Greater(t, len(a), 50, "the snapshot reads the flow schema")
	require.Contains(t, a, "trigger flow_release on river_job", "the snapshot covers htdag's triggers on river_job")

	if diffs := sqlcatalog.Diff(a, b); len(diffs) > 0 {
		t.Fatalf("the migrations (first database) and sql/flow (second) disagree on %d objects; the first:\n%s\n"+
			"Change sql/flow, then carry the change into a new migration: go run ./internal/sqlsnap NAME OBJECT...",
			len(diffs), diffs[0])
	}
}

// sourceDatabase is a database with River's migrations and then every file of
// sql/flow applied in order.
func sourceDatabase(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.Empty(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	require.NoError(t, pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
		return sqlcatalog.Apply(ctx, tx.Conn(), htdagsql.Flow, htdagsql.FlowDir)
	}))
	return pool
}

// Each file defines the one object its name says, so a newcomer finds any
// object's current definition from the file names alone.
func TestEachFileDefinesTheObjectItNames(t *testing.T) {
	t.Parallel()
	names, err := sqlcatalog.Files(htdagsql.Flow, htdagsql.FlowDir)
	require.NoError(t, err)
	fileName := regexp.MustCompile(`^flow/(\d\d)_(schema|roles|grants|table|function|trigger|view|policy)(?:_(\w+))?\.sql$`)
	creates := regexp.MustCompile(`(?m)^CREATE (?:OR REPLACE )?(?:UNIQUE |CONSTRAINT )?(TABLE|FUNCTION|TRIGGER|VIEW|INDEX|POLICY) ([\w.]+)`)
	seen := map[string]string{}
	for _, name := range names {
		m := fileName.FindStringSubmatch(name)
		require.NotNil(t, m, "%s: name must be NN_kind_name.sql", name)
		body, err := fs.ReadFile(htdagsql.Flow, name)
		require.NoError(t, err)
		kind, object := m[2], m[3]
		var defined []string
		for _, c := range creates.FindAllStringSubmatch(string(body), -1) {
			if c[1] == "INDEX" {
				require.Equal(t, "table", kind, "%s: indexes live in their table's file", name)
				continue
			}
			defined = append(defined, strings.ToLower(c[1])+" "+strings.TrimPrefix(c[2], "flow."))
		}
		switch kind {
		case "schema", "roles", "grants":
			require.Empty(t, defined, "%s defines no table, function, trigger or view", name)
		default:
			require.Equal(t, []string{kind + " " + object}, defined, "%s defines exactly the %s it names", name, kind)
			key := kind + " " + object
			require.NotContains(t, seen, key, "%s: %s is also defined in %s", name, key, seen[key])
			seen[key] = name
		}
	}
	require.Contains(t, seen, "function on_river_job_update")
	require.Contains(t, seen, "table run")
}
