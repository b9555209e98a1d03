// Command fleet runs issue 16's fleet (make fleet): 50 `worker run`
// processes through PgBouncer in transaction mode on a private PostgreSQL
// with max_connections 100, growing from 1 process, after one direct worker
// for comparison. It prints the figures of docs/SCALING.md and exits 1 if a
// run did not complete, a worker logged a connection error, or the chain's
// median step is more than twice one direct worker's.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/htdag/htdag/internal/fleettest"
)

func main() {
	var (
		o        fleettest.Options
		steps    string
		jsonPath string
		shapes   string
	)
	flag.IntVar(&o.Processes, "processes", 50, "worker processes in the full fleet")
	flag.StringVar(&steps, "steps", "1,10,25,50", "fleet sizes the throughput is measured at (comma-separated)")
	flag.IntVar(&o.MaxWorkers, "max-workers", 10, "each process's --max-workers")
	flag.IntVar(&o.MaxConns, "max-conns", 2, "each process's --max-conns (through PgBouncer)")
	flag.IntVar(&o.PoolSize, "pool-size", 30, "PgBouncer's server connections")
	flag.IntVar(&o.FanOut, "fan-out", 10_000, "width of the 1 -> N -> 1 run")
	flag.IntVar(&o.Diamonds, "diamonds", 500, "number of 5-node diamond runs")
	flag.IntVar(&o.Chain, "chain", 1_000, "length of the chain")
	flag.IntVar(&o.ChainRuns, "chain-runs", 3, "times the chain runs on the direct worker and on the full fleet; the acceptance compares each side's median run")
	flag.StringVar(&o.ExecMode, "exec-mode", "cache_describe", "pgx default_query_exec_mode of the pooled pools: cache_describe or exec")
	flag.BoolVar(&o.NoPooler, "no-pooler", false, "connect the fleet directly, without PgBouncer (keep -processes small: each holds -max-conns + 1 server connections)")
	flag.StringVar(&shapes, "shapes", "", "measure only these shapes: fan-out, diamonds, chain, mixed (comma-separated; default all, which the acceptance needs)")
	flag.IntVar(&o.Statements, "statements", 0, "log the N statements that took most of PostgreSQL's time in each idle window and shape of the full fleet (loads pg_stat_statements)")
	flag.StringVar(&o.Dir, "dir", "", "keep the worker binary and logs here (default: a temporary directory)")
	flag.StringVar(&jsonPath, "json", "", "also write the report as JSON to this file")
	flag.Parse()
	for _, s := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "fleet: -steps %q: want positive integers separated by commas\n", steps)
			os.Exit(2)
		}
		o.Steps = append(o.Steps, n)
	}
	for _, s := range strings.Split(shapes, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "fan-out", "diamonds", "chain", "mixed":
			o.Shapes = append(o.Shapes, s)
		default:
			fmt.Fprintf(os.Stderr, "fleet: -shapes: unknown shape %q (want fan-out, diamonds, chain or mixed)\n", s)
			os.Exit(2)
		}
	}
	o.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := fleettest.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(2)
	}
	fmt.Print(r)
	if jsonPath != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err == nil {
			err = os.WriteFile(jsonPath, b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet: writing the JSON report:", err)
			os.Exit(2)
		}
	}
	if !r.Passed() {
		os.Exit(1)
	}
	fmt.Println("fleet passed")
}
