// Package flowtest helps test code built on htdag, as River's rivertest does
// for River: a fresh migrated database per test, a River client that works
// flow nodes the way `worker run` does, assertions of the engine's
// invariants after a scenario, and a copy of a fixture tree.
//
// Every test gets its own database, cloned from a template that holds River's
// and htdag's migrations (made once per set of migrations) and dropped when
// the test ends, so tests run in parallel and leave nothing behind. The
// server is the one named by HTDAG_TEST_DATABASE_URL, else DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432/postgres; its role must be able to
// create databases.
//
//	func TestReport(t *testing.T) {
//		t.Parallel()
//		ctx := context.Background()
//		pool := flowtest.NewPool(t)
//		workers := river.NewWorkers()
//		river.AddWorker(workers, &ReportWorker{})
//		flowtest.StartRiver(t, pool, flowtest.RiverConfig(pool, workers))
//
//		client := flow.NewClient(pool, nil)
//		runID, err := client.Start(ctx, reportWorkflow())
//		require.NoError(t, err)
//		run, err := client.Wait(ctx, runID)
//		require.NoError(t, err)
//		require.Equal(t, flow.RunStateCompleted, run.State)
//		flowtest.RequireTreeInvariants(ctx, t, pool, runID)
//	}
package flowtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/internal/migrate"
	"github.com/htdag/htdag/internal/testdb"
)

// DefaultMaxConns is the size of the pools [NewPool] opens: tests run in
// parallel on one server, whose max_connections is finite.
const DefaultMaxConns = 10

// DatabaseConfig creates a fresh database holding River's and htdag's
// migrations, dropped when tb ends, and returns a pool config for it. Use it
// when the pool needs settings of its own, and close the pool with a
// tb.Cleanup registered after this call (cleanups run last first, so the
// pool closes before the database is dropped).
//
// lines adds the migrations of applications of this module, such as
// ingest.MigrationLine() (default: the engine's alone).
func DatabaseConfig(tb testing.TB, lines ...migrate.Line) *pgxpool.Config {
	tb.Helper()
	return testdb.Config(tb, lines...)
}

// NewPool returns a pool of [DefaultMaxConns] connections on a fresh
// database holding River's and htdag's migrations, and those of lines (see
// [DatabaseConfig]). The pool is closed, then the database dropped, when tb
// ends.
func NewPool(tb testing.TB, lines ...migrate.Line) *pgxpool.Pool {
	tb.Helper()
	cfg := DatabaseConfig(tb, lines...)
	cfg.MaxConns = DefaultMaxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("flowtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// PoolOn opens a pool on url (a database the test made elsewhere, such as
// on a private cluster), closed when tb ends.
func PoolOn(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("flowtest: %v", err)
	}
	cfg.MaxConns = DefaultMaxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("flowtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// DatabaseURL returns a connection URL for the database behind pool, for a
// subprocess (a worker binary under test, say).
func DatabaseURL(pool *pgxpool.Pool) string {
	return testdb.URL(pool)
}
