// Package migrations holds the engine's SQL migrations and applies them,
// after River's own, to a database.
//
// Each file NNNN_name.sql is one version of the engine's line ("flow"),
// applied once in order and recorded in flow.schema_migration (see
// internal/migrate). The files are generated from the current definitions in
// sql/flow by internal/sqlsnap (tables: an ALTER written by hand), and are
// append-only: never edit one that was released.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/htdag/htdag/internal/migrate"
)

//go:embed *.sql
var files embed.FS

// LineName is the engine's line in flow.schema_migration.
const LineName = "flow"

// Line returns the engine's migration line.
func Line() migrate.Line {
	return migrate.Line{
		Name:  LineName,
		Files: files,
		// 0010 created the ingest schema; ingestion is now an application
		// with a line of its own, which adopts what 0010 made.
		Retired: map[int]string{10: "ingest"},
	}
}

// All returns the engine's migrations in version order.
func All() ([]migrate.Migration, error) { return Line().All() }

// Result says what Up applied: River's versions, then the engine's and each
// extra line's (empty when everything was present).
type Result struct {
	RiverVersions []int
	Lines         []*migrate.Result
}

// Applied lists every migration Up applied, line by line.
func (r *Result) Applied() []migrate.Migration {
	var out []migrate.Migration
	for _, l := range r.Lines {
		out = append(out, l.Applied...)
	}
	return out
}

// Up applies River's migrations (through rivermigrate), then every engine
// migration not yet recorded, then those of each extra line (an
// application's, such as ingest.MigrationLine()), under one advisory lock so
// several processes may call it at once. logger may be nil.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, extra ...migrate.Line) (*Result, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	unlock, err := migrate.Lock(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer unlock()

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("migrate: river: %w", err)
	}
	riverRes, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: river: %w", err)
	}
	res := &Result{}
	for _, v := range riverRes.Versions {
		res.RiverVersions = append(res.RiverVersions, v.Version)
	}
	for _, line := range append([]migrate.Line{Line()}, extra...) {
		lres, err := migrate.UpLocked(ctx, conn, line, logger)
		if err != nil {
			return nil, err
		}
		res.Lines = append(res.Lines, lres)
	}
	return res, nil
}
