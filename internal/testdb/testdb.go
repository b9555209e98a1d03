// Package testdb gives each test its own PostgreSQL database, cloned from a
// template that holds River's and htdag's migrations (the engine's, plus any
// application lines a test asks for), and drops it when the test ends. Tests
// therefore run in parallel and leave nothing behind.
//
// The server is found through HTDAG_TEST_DATABASE_URL, then DATABASE_URL, then
// postgres://postgres@127.0.0.1:5432/postgres. The role must be able to create
// databases.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/internal/migrate"
	"github.com/htdag/htdag/migrations"
)

// DefaultURL is used when neither HTDAG_TEST_DATABASE_URL nor DATABASE_URL is set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the URL of the server's maintenance database used to create
// test databases.
func AdminURL() string {
	for _, name := range []string{"HTDAG_TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return DefaultURL
}

var (
	templatesMu sync.Mutex
	templates   = map[string]string{} // line set -> template database
)

// templateLockKey serialises template creation across test processes.
const templateLockKey = 7_245_103_312

// templateDatabase returns the name of a migrated template database for the
// engine plus lines, creating it once per migration set (its name carries the
// line set and a hash of their migrations).
func templateDatabase(ctx context.Context, lines []migrate.Line) (string, error) {
	set := lineSet(lines)
	templatesMu.Lock()
	defer templatesMu.Unlock()
	if name, ok := templates[set]; ok {
		return name, nil
	}
	name, err := ensureTemplate(ctx, lines)
	if err != nil {
		return "", err
	}
	templates[set] = name
	return name, nil
}

// lineSet names a set of extra lines in template names: "flow", "flow_ingest".
func lineSet(lines []migrate.Line) string {
	set := migrations.LineName
	for _, l := range lines {
		set += "_" + l.Name
	}
	return set
}

func ensureTemplate(ctx context.Context, lines []migrate.Line) (string, error) {
	h := sha256.New()
	// Bump the runner line when internal/migrate changes what it records.
	h.Write([]byte("river v0.51.2\nrunner 3\n"))
	for _, line := range append([]migrate.Line{migrations.Line()}, lines...) {
		all, err := line.All()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "line %s\n", line.Name)
		for _, m := range all {
			fmt.Fprintf(h, "%d %s\n%s\n", m.Version, m.Name, m.SQL)
		}
	}
	set := lineSet(lines)
	name := "htdag_tmpl_" + set + "_" + hex.EncodeToString(h.Sum(nil))[:16]

	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return "", fmt.Errorf("testdb: connecting to %s: %w", redact(AdminURL()), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(templateLockKey)); err != nil {
		return "", err
	}
	defer func() { _, _ = admin.Exec(ctx, "SELECT pg_advisory_unlock($1)", int64(templateLockKey)) }()

	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Build under a scratch name and rename when done, so a half-built
	// template is never cloned.
	building := name + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	if err := migrateDatabase(ctx, building, lines); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	dropStaleTemplates(ctx, admin, set, name)
	return name, nil
}

// dropStaleTemplates drops the templates of earlier migration sets of the
// same lines (and of the naming before lines), so the server keeps one per
// line set. A template some other test process is cloning right now cannot
// be dropped (it is in use); it is left for the next time.
func dropStaleTemplates(ctx context.Context, admin *pgx.Conn, set, keep string) {
	rows, err := admin.Query(ctx, `
		SELECT datname FROM pg_database
		 WHERE (datname LIKE 'htdag\_tmpl\_' || $1 || '\_%' AND datname !~ '_building$' AND datname <> $2
		        AND substr(datname, length('htdag_tmpl_' || $1 || '_') + 1) ~ '^[0-9a-f]{16}$')
		    OR datname ~ '^htdag_tmpl_[0-9a-f]{16}$'`, set, keep)
	if err != nil {
		return
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range stale {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	}
}

func migrateDatabase(ctx context.Context, dbName string, lines []migrate.Line) error {
	cfg, err := pgxpool.ParseConfig(AdminURL())
	if err != nil {
		return err
	}
	cfg.ConnConfig.Database = dbName
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = migrations.Up(ctx, pool, nil, lines...)
	return err
}

// Config returns a pool config for a fresh database, migrated with River's
// and the engine's migrations and those of lines (applications' migration
// lines, such as ingest's), that is dropped when tb ends. Use it when the
// pool needs settings of its own.
func Config(tb testing.TB, lines ...migrate.Line) *pgxpool.Config {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tmpl, err := templateDatabase(ctx, lines)
	if err != nil {
		tb.Fatalf("testdb: template: %v", err)
	}
	name := newName("htdag_test_")

	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("testdb: connecting to %s: %v", redact(AdminURL()), err)
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		// Another checkout with other migrations (a second worktree) made
		// its own template and dropped this one as stale: make it again.
		if tmpl, err = ensureTemplate(ctx, lines); err == nil {
			_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl)
		}
	}
	if err != nil {
		tb.Fatalf("testdb: creating %s: %v", name, err)
	}
	dropAtCleanup(tb, name)

	cfg, err := pgxpool.ParseConfig(AdminURL())
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	cfg.ConnConfig.Database = name
	return cfg
}

// New returns a pool on a fresh, migrated database (see Config) that is
// dropped (after the pool is closed) when tb ends.
func New(tb testing.TB, lines ...migrate.Line) *pgxpool.Pool {
	tb.Helper()
	cfg := Config(tb, lines...)
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(pool.Close) // runs before the drop registered by Config
	return pool
}

// Empty creates a database with nothing in it (no River, no htdag) and
// returns its URL; it is dropped when tb ends.
func Empty(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := newName("htdag_empty_")
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("testdb: connecting to %s: %v", redact(AdminURL()), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("testdb: creating %s: %v", name, err)
	}
	dropAtCleanup(tb, name)
	return WithDatabase(AdminURL(), name)
}

// newName returns prefix and 12 random hex digits.
func newName(prefix string) string {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	return prefix + hex.EncodeToString(suffix[:])
}

// dropAtCleanup drops database name when tb ends, after cleanups registered
// later (pools closed by the test) have run.
func dropAtCleanup(tb testing.TB, name string) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			tb.Errorf("testdb: dropping %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("testdb: dropping %s: %v", name, err)
		}
	})
}

// URL returns a connection URL for the database behind pool (for
// subprocesses such as the worker binary).
func URL(pool *pgxpool.Pool) string {
	return WithDatabase(AdminURL(), pool.Config().ConnConfig.Database)
}

// WithDatabase returns url pointing at database dbName instead.
func WithDatabase(rawURL, dbName string) string {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return rawURL + " dbname=" + dbName // keyword/value form: the last dbname wins
	}
	u.Path = "/" + dbName
	return u.String()
}

func redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "(unparseable URL)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}
