package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/bench"
	"github.com/htdag/htdag/migrations"
)

// benchCommand runs the benchmark shapes (internal/bench) and prints the
// table, or JSON. By default it works in a scratch database it creates on
// the same server and drops afterwards, because every shape starts from
// empty tables; --in-place uses the --database-url database itself, which
// must be migrated and empty.
func (a *app) benchCommand() *cobra.Command {
	var (
		asJSON  bool
		quick   bool
		inPlace bool
		shapes  []string
		opts    bench.Options
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure step latency and throughput against plain River (see docs/BENCHMARKS.md)",
		Long: `bench runs the shapes ` + strings.Join(bench.Shapes(), ", ") + ` one after another
with the same worker settings, each from empty tables, and prints nodes/s, the ratio to
plain River (baseline), parent-completed-to-child-started latencies, insert time, peak
memory and database bytes per node.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			opts.Quick = quick
			opts.Shapes = shapes
			opts.Progress = cmd.ErrOrStderr()

			pool, cleanup, err := a.benchPool(ctx, inPlace)
			if err != nil {
				return err
			}
			defer cleanup()

			rep, err := bench.Run(ctx, pool, opts)
			if rep != nil && len(rep.Results) > 0 {
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					if err := enc.Encode(rep); err != nil {
						return err
					}
				} else if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
					return err
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&quick, "quick", false, "run every shape at 1/100 of its size")
	f.BoolVar(&inPlace, "in-place", false, "use the --database-url database (migrated and empty) instead of a scratch one")
	f.StringSliceVar(&shapes, "shape", nil, "shapes to run (repeatable; default all: "+strings.Join(bench.Shapes(), ",")+")")
	f.IntVar(&opts.MaxWorkers, "max-workers", flow.DefaultMaxWorkers, "River MaxWorkers for the default queue")
	f.DurationVar(&opts.FetchCooldown, "fetch-cooldown", flow.DefaultFetchCooldown, "River FetchCooldown (all shapes but defaults)")
	f.DurationVar(&opts.FetchPollInterval, "fetch-poll-interval", flow.DefaultFetchPollInterval, "River FetchPollInterval (all shapes but defaults)")
	return cmd
}

// benchPool opens the database the benchmark runs in, and a function that
// closes (and, for a scratch database, drops) it.
func (a *app) benchPool(ctx context.Context, inPlace bool) (*pgxpool.Pool, func(), error) {
	if inPlace {
		pool, err := a.openPool(ctx)
		if err != nil {
			return nil, nil, err
		}
		return pool, pool.Close, nil
	}

	admin, err := pgx.Connect(ctx, a.databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", redactURL(a.databaseURL), err)
	}
	defer admin.Close(ctx)
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "htdag_bench_" + hex.EncodeToString(suffix[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, nil, fmt.Errorf("creating scratch database %s (use --in-place on an empty migrated database if this role may not create databases): %w", name, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, a.databaseURL)
		if err != nil {
			a.log.Warn().Err(err).Str("database", name).Msg("could not drop the scratch database")
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			a.log.Warn().Err(err).Str("database", name).Msg("could not drop the scratch database")
		}
	}

	cfg, err := pgxpool.ParseConfig(a.databaseURL)
	if err != nil {
		drop()
		return nil, nil, err
	}
	cfg.ConnConfig.Database = name
	cfg.MaxConns = a.maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		drop()
		return nil, nil, err
	}
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		pool.Close()
		drop()
		return nil, nil, err
	}
	a.log.Info().Str("database", name).Msg("benchmark runs in a scratch database, dropped at the end")
	return pool, func() { pool.Close(); drop() }, nil
}
