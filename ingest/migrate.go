package ingest

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/internal/migrate"
)

// Ingestion's schema comes in its own migration line, recorded apart from the
// engine's: `worker migrate` installs only the engine, and `worker migrate
// --with ingest` (or the first `worker ingest`) installs this. The current
// definition of every object is in sql/, one per file; migrations/ is how
// databases get there (append-only), and a test checks that both agree.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationLineName is ingestion's line in flow.schema_migration.
const MigrationLineName = "ingest"

// MigrationLine returns ingestion's migration line, for migrations.Up's
// extra lines or internal/migrate.Up. A database where the engine's former
// migration 0010_ingest created the schema adopts it: version 1 (the same
// file) is recorded as applied, nothing is run again, the data stays.
func MigrationLine() migrate.Line {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory exists: a build without it is broken
	}
	return migrate.Line{Name: MigrationLineName, Files: files, Adopt: adoptEngine0010}
}

// adoptEngine0010 returns version 1 when the engine's line recorded
// 0010_ingest and the schema is there.
func adoptEngine0010(ctx context.Context, tx pgx.Tx) ([]int, error) {
	var adopt bool
	err := tx.QueryRow(ctx, `
		SELECT to_regnamespace('ingest') IS NOT NULL
		   AND EXISTS (SELECT 1 FROM flow.schema_migration WHERE line = 'flow' AND version = 10 AND name = 'ingest')`).
		Scan(&adopt)
	if err != nil || !adopt {
		return nil, err
	}
	return []int{1}, nil
}

// Install applies the ingestion migrations the database lacks (none when it
// is up to date) and returns what it did; the engine's must be there already
// (worker migrate). logger may be nil.
func Install(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*migrate.Result, error) {
	line := MigrationLine()
	if ok, err := migrate.Applied(ctx, pool, line); err != nil || ok {
		return &migrate.Result{Line: line.Name}, err
	}
	return migrate.Up(ctx, pool, line, logger)
}
