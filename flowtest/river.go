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
	return StartRiverWithFleet(tb, pool, config, nil)
}

// StartRiverWithFleet is [StartRiver] with the fleet membership configured
// by fleetConfig (nil: the defaults, and a test failure should the client be
// declared dead). When fleetConfig.Session is set, River LISTENs on it too,
// as `worker run` does (the pool may then go through a transaction-mode
// pooler); the test closes it.
func StartRiverWithFleet(tb testing.TB, pool *pgxpool.Pool, config *river.Config, fleetConfig *flow.FleetConfig) *river.Client[pgx.Tx] {
	tb.Helper()
	if config == nil {
		config = RiverConfig(pool, nil)
	}
	opts := &flow.DriverOptions{Logger: config.Logger}
	if fleetConfig != nil {
		opts.Session = fleetConfig.Session
	}
	client, err := river.NewClient(flow.NewDriver(pool, opts), config)
	if err != nil {
		tb.Fatalf("flowtest: River client: %v", err)
	}
	// The client joins the fleet as `worker run` does, before it starts, and
	// leaves once it has stopped.
	var fleet *flow.Fleet
	if config.ID != "" && flow.MiddlewareOf(config) != nil {
		fc := flow.FleetConfig{
			OnDeclaredDead: func() { tb.Errorf("flowtest: the test's River client %s was declared dead by the fleet", config.ID) },
		}
		if fleetConfig != nil {
			fc = *fleetConfig
		}
		fleet, err = flow.JoinFleet(context.Background(), pool, config, &fc)
		if err != nil {
			tb.Fatalf("flowtest: joining the fleet: %v", err)
		}
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
		if fleet != nil {
			if err := fleet.Leave(ctx); err != nil {
				tb.Errorf("flowtest: leaving the fleet: %v", err)
			}
		}
	})
	return client
}

// JoinFleet registers a live worker serving queues (every kind), without a
// River client, until tb ends: for tests of what flow.check says while a
// worker is alive, or of the fleet itself. cfg may be nil; a nil
// OnDeclaredDead fails the test.
func JoinFleet(tb testing.TB, pool *pgxpool.Pool, cfg *flow.FleetConfig, queues ...string) *flow.Fleet {
	tb.Helper()
	c := flow.FleetConfig{}
	if cfg != nil {
		c = *cfg
	}
	if len(queues) == 0 {
		queues = []string{river.QueueDefault}
	}
	c.Queues, c.AnyKind = queues, c.Kinds == nil
	if c.OnDeclaredDead == nil {
		c.OnDeclaredDead = func() { tb.Errorf("flowtest: a fleet member was declared dead") }
	}
	config := flow.RiverConfig(pool, nil)
	config.Logger = riverLogger
	fleet, err := flow.JoinFleet(context.Background(), pool, config, &c)
	if err != nil {
		tb.Fatalf("flowtest: joining the fleet: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
		defer cancel()
		if err := fleet.Leave(ctx); err != nil {
			tb.Errorf("flowtest: leaving the fleet: %v", err)
		}
	})
	return fleet
}
