package flow_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/htdag/htdag/flowtest"
)

// The examples run, against a real database, as River's do: each one gets a
// fresh database holding River's and htdag's migrations (what `worker
// migrate` installs), dropped once every test and example has run. In an
// application the pool comes from pgxpool.New(ctx, databaseURL) and the
// River client from flow.RiverConfig, as ExampleRiverConfig shows.

// exampleCleanups are the examples' databases to drop, last first.
var exampleCleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(exampleCleanups) - 1; i >= 0; i-- {
		exampleCleanups[i]()
	}
	os.Exit(code)
}

// exampleTB lets an example, which has no *testing.T, use flowtest's
// database setup: a failure panics (failing the example) and cleanups run
// after m.Run.
type exampleTB struct{ testing.TB }

func (exampleTB) Helper()                           {}
func (exampleTB) Cleanup(f func())                  { exampleCleanups = append(exampleCleanups, f) }
func (exampleTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// examplePool opens a pool on a fresh, migrated database.
func examplePool() *pgxpool.Pool {
	pool, err := pgxpool.NewWithConfig(context.Background(), flowtest.DatabaseConfig(exampleTB{}))
	if err != nil {
		panic(err)
	}
	return pool
}

// startWorkers starts a River client that works flow nodes on pool with
// workers (flow.RiverConfig, quiet logs) and returns it with a function that
// stops it.
func startWorkers(pool *pgxpool.Pool, workers *river.Workers) (*river.Client[pgx.Tx], func()) {
	client, err := river.NewClient(riverpgxv5.New(pool), flowtest.RiverConfig(pool, workers))
	if err != nil {
		panic(err)
	}
	if err := client.Start(context.Background()); err != nil {
		panic(err)
	}
	return client, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			panic(err)
		}
	}
}
