package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/bench"
	"github.com/htdag/htdag/internal/render"
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
					if err := render.JSON(cmd.OutOrStdout(), rep); err != nil {
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
	f.StringVar(&opts.HTTPAddr, "http-addr", "", "serve /metrics, probes and pages here while shapes run (the metrics observer on the hot path), as worker run --http-addr")
	f.BoolVar(&opts.Trace, "trace", false, "trace every node with flowotel, spans batched to an exporter that discards them")
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
	name, pool, drop, err := bench.Scratch(ctx, a.databaseURL, a.maxConns)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (on %s; use --in-place on an empty migrated database if this role may not create databases)", err, redactURL(a.databaseURL))
	}
	a.log.Info().Str("database", name).Msg("benchmark runs in a scratch database, dropped at the end")
	return pool, func() {
		if err := drop(); err != nil {
			a.log.Warn().Err(err).Msg("could not drop the scratch database")
		}
	}, nil
}
