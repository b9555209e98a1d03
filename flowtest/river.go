package flowtest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/htdag/htdag/flow"
)

// StopTimeout bounds how long [StartRiver]'s cleanup waits for the client's
// jobs to finish when the test ends.
const StopTimeout = 15 * time.Second

// riverLogger keeps River quiet unless something is wrong.
var riverLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// RiverConfig returns [flow.RiverConfig](pool, workers) (htdag's middleware
// and fetch settings, and flow's own workers added to workers) for a test:
// River's TestOnly mode, and River's log on stderr at warning level and
// above. Adjust its fields, then pass it to [StartRiver].
func RiverConfig(pool *pgxpool.Pool, workers *river.Workers) *river.Config {
	config := flow.RiverConfig(pool, workers)
	config.Logger = riverLogger
	config.TestOnly = true
	return config
}

// StartRiver starts a River client on pool with config ([RiverConfig](pool,
// nil) when nil: flow's own workers only) and stops it when tb ends, waiting
// up to [StopTimeout] for its jobs. The client runs on a context of its own:
// River stops when its start context ends, and the test's may end first.
func StartRiver(tb testing.TB, pool *pgxpool.Pool, config *river.Config) *river.Client[pgx.Tx] {
	tb.Helper()
	if config == nil {
		config = RiverConfig(pool, nil)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), config)
	if err != nil {
		tb.Fatalf("flowtest: River client: %v", err)
	}
	if err := client.Start(context.Background()); err != nil {
		tb.Fatalf("flowtest: starting River: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			tb.Errorf("flowtest: stopping River: %v", err)
		}
	})
	return client
}
