// Package migrate applies lines of versioned SQL migrations and records them.
//
// A line is one application's migrations: the engine's (package migrations,
// schema flow) or an application's built on it (package ingest). Each line's
// files are named NNNN_name.sql and applied once, in version order, each in
// the transaction of its line's run; what was applied is recorded in
// flow.schema_migration with the line's name and the file's sha256, and a
// file changed after it was applied is refused (migrations are append-only).
// Up is safe to call again and from several processes at once: a session
// advisory lock serialises migrators.
package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// advisoryLockKey serialises migrators across processes ("htdag.migrate").
const advisoryLockKey = 7_245_103_311

// Migration is one versioned SQL file of a line.
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

// Line is one application's sequence of migrations.
type Line struct {
	// Name identifies the line in flow.schema_migration ("flow", "ingest").
	Name string
	// Files holds the line's NNNN_name.sql files at its root.
	Files fs.FS
	// Retired lists versions that an older release recorded in this line
	// and that now live elsewhere (a line of their own): they are accepted
	// in a database and otherwise ignored. Nil: none.
	Retired map[int]string
	// Adopt, when set, runs before the first migration of a database that
	// has no record of this line yet, in the same transaction. It returns
	// versions to record as applied without running them: objects that an
	// older release created under another line. Nil: adopt nothing.
	Adopt func(ctx context.Context, tx pgx.Tx) ([]int, error)
}

// All returns the line's migrations in version order.
func (l Line) All() ([]Migration, error) {
	entries, err := fs.Glob(l.Files, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, name := range entries {
		prefix, rest, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || len(prefix) != 4 {
			return nil, fmt.Errorf("%s migration file %q: name must be NNNN_name.sql", l.Name, name)
		}
		body, err := fs.ReadFile(l.Files, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: version, Name: strings.TrimSuffix(rest, ".sql"), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("%s: two migrations have version %d", l.Name, out[i].Version)
		}
	}
	return out, nil
}

// Result says which versions of a line Up applied (empty when all were
// present) and which it adopted.
type Result struct {
	Line    string
	Applied []Migration
	Adopted []int
}

// bootstrapSQL creates the record of applied migrations. Version numbers are
// per line; rows written before lines existed belong to the engine ("flow").
const bootstrapSQL = `
CREATE SCHEMA IF NOT EXISTS flow;
CREATE TABLE IF NOT EXISTS flow.schema_migration (
    version    integer NOT NULL,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE flow.schema_migration ADD COLUMN IF NOT EXISTS checksum text;
ALTER TABLE flow.schema_migration ADD COLUMN IF NOT EXISTS line text NOT NULL DEFAULT 'flow';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'schema_migration_line_version_pkey'
                      AND conrelid = 'flow.schema_migration'::regclass) THEN
        ALTER TABLE flow.schema_migration DROP CONSTRAINT IF EXISTS schema_migration_pkey;
        ALTER TABLE flow.schema_migration ADD CONSTRAINT schema_migration_line_version_pkey PRIMARY KEY (line, version);
    END IF;
END
$$;
COMMENT ON TABLE flow.schema_migration IS 'htdag migrations applied to this database (worker migrate), per line: the engine (flow) and applications such as ingest.';
COMMENT ON COLUMN flow.schema_migration.checksum IS 'sha256 of the migration file as applied: a file changed afterwards is refused.';
COMMENT ON COLUMN flow.schema_migration.line IS 'Which line of migrations the version belongs to: flow (the engine), ingest, ...';`

// Lock takes the migration lock on conn until the returned function is
// called: migrators in other processes wait for it.
func Lock(ctx context.Context, conn *pgxpool.Conn) (unlock func(), err error) {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(advisoryLockKey)); err != nil {
		return nil, fmt.Errorf("migrate: taking the migration lock: %w", err)
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(advisoryLockKey))
	}, nil
}

// Up applies every migration of line not yet recorded, in one transaction,
// under the migration lock. logger may be nil.
func Up(ctx context.Context, pool *pgxpool.Pool, line Line, logger *slog.Logger) (*Result, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", line.Name, err)
	}
	defer conn.Release()
	unlock, err := Lock(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return UpLocked(ctx, conn, line, logger)
}

// UpLocked is Up on a connection that already holds the migration lock.
func UpLocked(ctx context.Context, conn *pgxpool.Conn, line Line, logger *slog.Logger) (*Result, error) {
	all, err := line.All()
	if err != nil {
		return nil, err
	}
	known := map[int]Migration{}
	for _, m := range all {
		known[m.Version] = m
	}
	res := &Result{Line: line.Name}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, bootstrapSQL); err != nil {
			return err
		}
		applied, err := recorded(ctx, tx, line.Name)
		if err != nil {
			return err
		}
		if len(applied) == 0 && line.Adopt != nil {
			adopted, err := line.Adopt(ctx, tx)
			if err != nil {
				return fmt.Errorf("adopting: %w", err)
			}
			for _, v := range adopted {
				m, ok := known[v]
				if !ok {
					return fmt.Errorf("adopting version %d, which is not one of the line's files", v)
				}
				if err := record(ctx, tx, line.Name, m); err != nil {
					return err
				}
				applied[v] = m.Checksum()
				res.Adopted = append(res.Adopted, v)
			}
		}
		for v := range applied {
			if _, ok := known[v]; !ok && line.Retired[v] == "" {
				return fmt.Errorf("this database has %s migration %04d, which this binary does not know: "+
					"it was migrated by a newer htdag", line.Name, v)
			}
		}
		for _, m := range all {
			if sum, ok := applied[m.Version]; ok {
				// Migrations are append-only: an applied one that changed
				// would leave this database unlike every other.
				if sum != "" && sum != m.Checksum() {
					return fmt.Errorf("%s migration %04d_%s was changed after it was applied to this database; "+
						"migrations are append-only: put the change in a new migration", line.Name, m.Version, m.Name)
				}
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s migration %04d_%s: %w", line.Name, m.Version, m.Name, err)
			}
			if err := record(ctx, tx, line.Name, m); err != nil {
				return err
			}
			res.Applied = append(res.Applied, m)
			if logger != nil {
				logger.InfoContext(ctx, "htdag migration applied", "line", line.Name, "version", m.Version, "name", m.Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", line.Name, err)
	}
	return res, nil
}

// recorded returns the versions of line recorded in the database, with their
// checksums ("" for rows from before checksums were recorded).
func recorded(ctx context.Context, tx pgx.Tx, line string) (map[int]string, error) {
	rows, err := tx.Query(ctx, "SELECT version, coalesce(checksum, '') FROM flow.schema_migration WHERE line = $1", line)
	if err != nil {
		return nil, err
	}
	applied := map[int]string{}
	var (
		version  int32
		checksum string
	)
	_, err = pgx.ForEachRow(rows, []any{&version, &checksum}, func() error {
		applied[int(version)] = checksum
		return nil
	})
	return applied, err
}

func record(ctx context.Context, tx pgx.Tx, line string, m Migration) error {
	_, err := tx.Exec(ctx, "INSERT INTO flow.schema_migration (line, version, name, checksum) VALUES ($1, $2, $3, $4)",
		line, m.Version, m.Name, m.Checksum())
	return err
}

// Applied reports whether every migration of line is recorded in the
// database (false, without error, when nothing of htdag is installed).
func Applied(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, line Line) (bool, error) {
	all, err := line.All()
	if err != nil {
		return false, err
	}
	// Before lines existed the table had no "line" column: ask the catalog
	// first, as a query naming a missing column or table fails to parse.
	var hasLines bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = to_regclass('flow.schema_migration') AND attname = 'line' AND NOT attisdropped)`).Scan(&hasLines); err != nil {
		return false, err
	}
	if !hasLines {
		return false, nil
	}
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM flow.schema_migration WHERE line = $1 AND version = ANY ($2)`,
		line.Name, versions(all)).Scan(&n); err != nil {
		return false, err
	}
	return n == len(all), nil
}

func versions(all []Migration) []int32 {
	out := make([]int32, len(all))
	for i, m := range all {
		out[i] = int32(m.Version)
	}
	return out
}
