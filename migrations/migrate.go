// Package migrations holds htdag's SQL migrations and applies them, after
// River's own, to a database.
//
// Each file NNNN_name.sql is one version, applied once in its own order and
// recorded in flow.schema_migration. Up is safe to call again and from several
// processes at once: a session advisory lock serialises migrators.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed *.sql
var files embed.FS

// advisoryLockKey serialises migrators across processes ("htdag.migrate").
const advisoryLockKey = 7_245_103_311

// Migration is one versioned SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Checksum is the sha256 of the migration's SQL, recorded when it is applied.
func (m Migration) Checksum() string {
	sum := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(sum[:])
}

// All returns htdag's migrations in version order.
func All() ([]Migration, error) {
	entries, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, name := range entries {
		prefix, rest, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_name.sql", name)
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: version, Name: strings.TrimSuffix(rest, ".sql"), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations have version %d", out[i].Version)
		}
	}
	return out, nil
}

// Result says which htdag versions Up applied (empty when all were present).
type Result struct {
	RiverVersions []int
	Applied       []Migration
}

// Up applies River's migrations (through rivermigrate) and then every htdag
// migration not yet recorded. logger may be nil.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*Result, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(advisoryLockKey)); err != nil {
		return nil, fmt.Errorf("migrate: taking the migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(advisoryLockKey))
	}()

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

	all, err := All()
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			CREATE SCHEMA IF NOT EXISTS flow;
			CREATE TABLE IF NOT EXISTS flow.schema_migration (
			    version    integer PRIMARY KEY,
			    name       text NOT NULL,
			    applied_at timestamptz NOT NULL DEFAULT now()
			);
			ALTER TABLE flow.schema_migration ADD COLUMN IF NOT EXISTS checksum text;
			COMMENT ON TABLE flow.schema_migration IS 'htdag migrations applied to this database (worker migrate).';
			COMMENT ON COLUMN flow.schema_migration.checksum IS 'sha256 of the migration file as applied: a file changed afterwards is refused.';`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT version, coalesce(checksum, '') FROM flow.schema_migration")
		if err != nil {
			return err
		}
		applied := map[int]string{}
		var (
			version  int32
			checksum string
		)
		if _, err := pgx.ForEachRow(rows, []any{&version, &checksum}, func() error {
			applied[int(version)] = checksum
			return nil
		}); err != nil {
			return err
		}
		for _, m := range all {
			if sum, ok := applied[m.Version]; ok {
				// Migrations are append-only: an applied one that changed
				// would leave this database unlike every other.
				if sum != "" && sum != m.Checksum() {
					return fmt.Errorf("migration %04d_%s was changed after it was applied to this database; "+
						"migrations are append-only: put the change in a new migration", m.Version, m.Name)
				}
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO flow.schema_migration (version, name, checksum) VALUES ($1, $2, $3)",
				m.Version, m.Name, m.Checksum()); err != nil {
				return err
			}
			res.Applied = append(res.Applied, m)
			if logger != nil {
				logger.InfoContext(ctx, "htdag migration applied", "version", m.Version, "name", m.Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return res, nil
}
