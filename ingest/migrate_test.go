package ingest

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/internal/migrate"
	"github.com/htdag/htdag/internal/sqlcatalog"
	"github.com/htdag/htdag/internal/testdb"
	"github.com/htdag/htdag/migrations"
)

//go:embed sql/*.sql
var sqlSource embed.FS

// A database whose ingest schema was built by the migrations and one built
// by applying ingest/sql in order have the same catalog (the trigger that
// ingestion puts on flow.run included).
func TestSQLSourceMatchesMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	migrated := testdb.New(t, MigrationLine())
	fromSource := testdb.New(t) // the engine only
	conn, err := fromSource.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	require.NoError(t, pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
		return sqlcatalog.Apply(ctx, tx.Conn(), sqlSource, "sql")
	}))

	a, err := sqlcatalog.Snapshot(ctx, migrated, "ingest")
	require.NoError(t, err)
	b, err := sqlcatalog.Snapshot(ctx, fromSource, "ingest")
	require.NoError(t, err)
	require.Greater(t, len(a), 100, "the snapshot reads the ingest schema")
	require.Contains(t, a, "trigger ingest_fail_with_flow_run on flow.run")
	if diffs := sqlcatalog.Diff(a, b); len(diffs) > 0 {
		t.Fatalf("ingest/migrations (first database) and ingest/sql (second) disagree on %d objects; the first:\n%s\n"+
			"Change ingest/sql, then carry the change into a new migration in ingest/migrations.", len(diffs), diffs[0])
	}
}

// The engine alone does not create the ingest schema.
func TestTheEngineAloneHasNoIngestSchema(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	var exists bool
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT to_regnamespace('ingest') IS NOT NULL`).Scan(&exists))
	require.False(t, exists)
}

// A database migrated before ingestion had a line of its own (the engine's
// 0010_ingest made the schema) is adopted: ingest version 1 is recorded
// without running, the later versions run, and what was ingested stays.
func TestUpgradeAdoptsTheEngineMadeSchemaAndKeepsItsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupOn(t, testdb.Empty(t))

	// The engine's line as it was: 0001-0009, then 0010_ingest, which is
	// ingest's 0001 byte for byte.
	old := fstest.MapFS{}
	engine, err := migrations.All()
	require.NoError(t, err)
	for _, m := range engine {
		if m.Version < 10 {
			old[fmt.Sprintf("%04d_%s.sql", m.Version, m.Name)] = &fstest.MapFile{Data: []byte(m.SQL)}
		}
	}
	first, err := fs.ReadFile(migrationFiles, "migrations/0001_ingest.sql")
	require.NoError(t, err)
	old["0010_ingest.sql"] = &fstest.MapFile{Data: first}
	migrator, err := rivermigrate.New(riverpgxv5.New(b.pool), nil)
	require.NoError(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	_, err = migrate.Up(ctx, b.pool, migrate.Line{Name: migrations.LineName, Files: old}, nil)
	require.NoError(t, err)

	root := flowtest.CopyFixture(t, fixtureRoot)
	run, _ := b.ingestDirect(t, "fixture", root)
	requireFixtureStored(t, b, "fixture", run)
	_, err = b.pool.Exec(ctx, `UPDATE ingest.file_version SET language = 'cpp' WHERE language = 'python'`)
	require.NoError(t, err)

	// Upgrade: the engine's line (0010 retired), then ingest's.
	res, err := migrations.Up(ctx, b.pool, nil, MigrationLine())
	require.NoError(t, err)
	require.Len(t, res.Lines, 2)
	require.Empty(t, res.Lines[0].Adopted)
	require.Equal(t, []int{1}, res.Lines[1].Adopted)
	var applied []int
	for _, m := range res.Lines[1].Applied {
		applied = append(applied, m.Version)
	}
	require.Equal(t, []int{2, 3}, applied)

	require.Equal(t, []string{"README.md markdown", "main.go go", "scripts/tool.py c++", "util/strings.go go", "web/App.vue vue"},
		b.strings(t, `SELECT path || ' ' || language FROM ingest.current_files WHERE codebase = 'fixture'`),
		"the data stays; old language names are renamed")
	second, parsed := b.ingestDirect(t, "fixture", root)
	require.Empty(t, parsed, "nothing changed: the stored versions are current")
	require.Greater(t, second, run)

	again, err := migrations.Up(ctx, b.pool, nil, MigrationLine())
	require.NoError(t, err)
	require.Empty(t, again.Applied())
}
