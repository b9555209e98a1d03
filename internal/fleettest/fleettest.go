// Package fleettest runs a fleet of `worker run` processes on one machine
// against a private PostgreSQL whose max_connections is 100, their job
// traffic through PgBouncer in transaction mode, and measures it. It is
// issue 16's acceptance (every run completes; the chain's median step within
// twice a single direct worker's; no worker logs a connection error) and the
// source of docs/SCALING.md's figures: nodes per second per PostgreSQL core,
// write transactions, WAL and wake-up notifications per node, disk per node
// and per run, what the NOTIFY lock allows, and throughput from 1 to 50
// worker processes.
//
// `make fleet` runs it in full (internal/fleettest/cmd) and prints the
// figures; a small fleet runs in `make test` (fleettest_test.go). It needs
// PostgreSQL's server programs and PgBouncer (scripts/ensure-pgbouncer.sh).
package fleettest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/pgbouncer"
	"github.com/htdag/htdag/internal/pgcluster"
)

// Options shape a fleet run. Zero fields take the full run's defaults.
type Options struct {
	// Processes is the fleet's size (default 50).
	Processes int
	// Steps are the fleet sizes the throughput curve is measured at, in
	// increasing order, each at most Processes (default 1, 10, 25, 50).
	// The acceptance shapes run at Processes.
	Steps []int
	// MaxWorkers and MaxConns are each process's --max-workers and
	// --max-conns (default 10 and 2).
	MaxWorkers, MaxConns int
	// MaxConnections is PostgreSQL's max_connections (default 100).
	MaxConnections int
	// PoolSize is PgBouncer's server connections for the database (default
	// 30: with one direct connection per process, 50 + 30 and the
	// harness's few stay under 100).
	PoolSize int
	// FanOut, Diamonds and Chain size the shapes: a 1 -> FanOut -> 1 run,
	// that many 5-node diamonds, and a chain of that many nodes (default
	// 10,000, 500 and 1,000).
	FanOut, Diamonds, Chain int
	// ExecMode is the pooled pools' pgx default_query_exec_mode:
	// cache_describe (default) or exec.
	ExecMode string
	// NoPooler connects the fleet's workers directly, without PgBouncer, to
	// see what the pooler costs (each process then holds MaxConns + 1
	// server connections: keep the fleet small enough).
	NoPooler bool
	// NoFsync turns PostgreSQL's fsync and full_page_writes off (default:
	// on, as on a real server, so that commits cost what they cost; a test
	// turns them off to go faster).
	NoFsync bool
	// ChainRuns is how many times the chain runs for the acceptance's
	// ratio, on the direct worker and on the full fleet; each side's
	// median run is compared (default 3). One chain's p50 moves by a
	// third from run to run on a shared machine (commit flushes, other
	// load), on both sides.
	ChainRuns int
	// Shapes are the shapes measured, of "fan-out", "diamonds", "chain"
	// and "mixed" (default: all four). The acceptance needs all of them;
	// fewer make a quicker experiment.
	Shapes []string
	// Statements, when above zero, loads pg_stat_statements and logs the
	// that many statements that took most of PostgreSQL's time in each
	// idle window and shape at the full fleet's size: where the server's
	// time goes, and the same for one direct worker (default 0: off).
	Statements int
	// ShapeTimeout bounds each shape (default 5 min).
	ShapeTimeout time.Duration
	// Dir holds the worker binary and the logs (default: a temporary
	// directory, removed afterwards).
	Dir string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Processes, 50)
	def(&o.MaxWorkers, 10)
	def(&o.MaxConns, 2)
	def(&o.MaxConnections, 100)
	def(&o.PoolSize, 30)
	def(&o.FanOut, 10_000)
	def(&o.Diamonds, 500)
	def(&o.Chain, 1_000)
	def(&o.ChainRuns, 3)
	if o.Steps == nil {
		o.Steps = []int{1, 10, 25, 50}
	}
	o.Steps = slices.DeleteFunc(slices.Clone(o.Steps), func(n int) bool { return n < 1 || n > o.Processes })
	if len(o.Steps) == 0 || o.Steps[len(o.Steps)-1] != o.Processes {
		o.Steps = append(o.Steps, o.Processes)
	}
	slices.Sort(o.Steps)
	o.Steps = slices.Compact(o.Steps)
	if o.ExecMode == "" {
		o.ExecMode = "cache_describe"
	}
	if o.ShapeTimeout <= 0 {
		o.ShapeTimeout = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// fleet is one run of the harness.
type fleet struct {
	o       Options
	report  *Report
	cluster *pgcluster.Cluster
	bouncer *pgbouncer.Bouncer
	binary  string
	pm      int // the server's main process

	admin  *pgx.Conn     // direct: measurements
	pool   *pgxpool.Pool // through the pooler: starts and reads
	client *flow.Client  // waits LISTEN directly

	notes   *notifyCounter
	sampler *backendSampler
	mu      sync.Mutex
	procs   []*workerProc
}

// Run runs the fleet and reports what it measured. An error means the
// harness itself could not run (no PostgreSQL or PgBouncer, no go
// toolchain, a shape that did not finish in time); broken guarantees are
// in the report's Violations.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if _, err := pgbouncer.Program(); err != nil {
		return nil, err
	}
	f := &fleet{o: o, report: &Report{Options: o, StartedAt: time.Now()}}
	if f.o.Dir == "" {
		dir, err := os.MkdirTemp("", "htdag-fleet-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		f.o.Dir = dir
	}
	defer f.teardown()
	if err := f.setup(ctx); err != nil {
		return nil, err
	}
	if err := f.measure(ctx); err != nil {
		return nil, err
	}
	f.report.Elapsed = time.Since(f.report.StartedAt)
	return f.report, nil
}

func (f *fleet) logf(format string, args ...any) {
	fmt.Fprintf(f.o.Log, "fleet %s: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// setup builds the worker, starts the cluster and the pooler, migrates the
// database and opens the harness's connections.
func (f *fleet) setup(ctx context.Context) error {
	f.binary = filepath.Join(f.o.Dir, "worker")
	// By import path: it builds from anywhere inside the module.
	build := exec.CommandContext(ctx, "go", "build", "-o", f.binary, "github.com/htdag/htdag/cmd/worker")
	out, err := build.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the worker: %w\n%s", err, out)
	}
	settings := []string{fmt.Sprintf("max_connections = %d", f.o.MaxConnections)}
	if f.o.Statements > 0 {
		settings = append(settings, "shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = all")
	}
	if !f.o.NoFsync {
		// A real server's durability, so that commits cost what they cost.
		settings = append(settings, "fsync = on", "full_page_writes = on")
	}
	if f.cluster, err = pgcluster.New(pgcluster.Options{Settings: settings}); err != nil {
		return err
	}
	if f.pm, err = f.cluster.PostmasterPID(); err != nil {
		return fmt.Errorf("reading the server's pid: %w", err)
	}
	if err := f.cluster.CreateDatabase(ctx, pgbouncer.DatabaseName); err != nil {
		return err
	}
	if f.o.Statements > 0 {
		conn, err := pgx.Connect(ctx, f.directURL())
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "CREATE EXTENSION pg_stat_statements")
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("-statements: %w", err)
		}
	}
	if f.bouncer, err = pgbouncer.New("127.0.0.1", f.cluster.Port, pgbouncer.Options{PoolSize: f.o.PoolSize,
		Settings: []string{fmt.Sprintf("max_db_connections = %d", f.o.PoolSize)}}); err != nil {
		return err
	}
	res := f.cli(ctx, "--database-url", f.pooledURL(), "--direct-database-url", f.directURL(), "migrate")
	if res.err != nil {
		return fmt.Errorf("worker migrate: %w\n%s", res.err, res.output)
	}
	if f.admin, err = pgx.Connect(ctx, f.directURL()); err != nil {
		return err
	}
	poolCfg, err := pgxpool.ParseConfig(f.pooledURL())
	if err != nil {
		return err
	}
	poolCfg.MaxConns = 4
	if f.pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return err
	}
	directCfg, err := pgx.ParseConfig(f.directURL())
	if err != nil {
		return err
	}
	f.client = flow.NewClient(f.pool, &flow.Config{ListenConnConfig: directCfg})
	if f.notes, err = startNotifyCounter(ctx, directCfg); err != nil {
		return err
	}
	if f.sampler, err = startBackendSampler(ctx, directCfg); err != nil {
		return err
	}
	f.report.Machine = machine(ctx, f.admin)
	f.logf("cluster on port %d (max_connections %d), PgBouncer on %d (transaction mode, %d server connections), worker built",
		f.cluster.Port, f.o.MaxConnections, f.bouncer.Port, f.o.PoolSize)
	return nil
}

func (f *fleet) teardown() {
	f.stopWorkers()
	if f.notes != nil {
		f.notes.stop()
	}
	if f.sampler != nil {
		f.sampler.stop()
	}
	if f.pool != nil {
		f.pool.Close()
	}
	if f.admin != nil {
		_ = f.admin.Close(context.Background())
	}
	if f.bouncer != nil {
		_ = f.bouncer.Remove()
	}
	if f.cluster != nil {
		_ = f.cluster.Remove()
	}
}

func (f *fleet) directURL() string { return f.cluster.URL(pgbouncer.DatabaseName) }

func (f *fleet) pooledURL() string {
	return f.bouncer.URL(pgbouncer.DatabaseName) + "&default_query_exec_mode=" + f.o.ExecMode
}

// measure runs the measurements in order: the NOTIFY lock alone, one
// direct worker, the fleet growing step by step, the acceptance shapes at
// full size, and the fleet's stop and logs.
func (f *fleet) measure(ctx context.Context) error {
	var err error
	f.logf("measuring commits per second with and without NOTIFY")
	if f.report.Notify, err = measureNotify(ctx, f.directURL()); err != nil {
		return fmt.Errorf("measuring NOTIFY: %w", err)
	}

	f.logf("one direct worker (the defaults of worker run)")
	baseline, err := f.startWorker(ctx, false)
	if err != nil {
		return err
	}
	if err := f.waitJoined(ctx, 1); err != nil {
		return err
	}
	for _, s := range f.shapes() {
		r, err := f.runShapeForRatio(ctx, s, 1)
		if err != nil {
			return err
		}
		r.Direct = true
		f.report.Baseline = append(f.report.Baseline, r)
	}
	if err := baseline.stop(); err != nil {
		f.report.Violations = append(f.report.Violations, "the direct worker: "+err.Error())
	}
	f.checkLog(baseline)
	f.mu.Lock()
	f.procs = nil
	f.mu.Unlock()

	for _, n := range f.o.Steps {
		f.logf("fleet of %d through PgBouncer", n)
		if err := f.growFleet(ctx, n); err != nil {
			return err
		}
		idle, err := f.measureIdle(ctx, n)
		if err != nil {
			return err
		}
		f.report.Idle = append(f.report.Idle, idle)
		for _, s := range f.shapes() {
			run := f.runShape
			if n == f.o.Processes {
				run = f.runShapeForRatio
			}
			r, err := run(ctx, s, n)
			if err != nil {
				return err
			}
			f.report.Fleet = append(f.report.Fleet, r)
		}
	}
	if f.wants(shapeMixed) {
		f.logf("all three shapes at once")
		r, err := f.runShape(ctx, f.mixedShape(), f.o.Processes)
		if err != nil {
			return err
		}
		f.report.Fleet = append(f.report.Fleet, r)
	}

	f.report.PeakBackends = f.sampler.peak.Load()
	f.logf("stopping the fleet")
	f.stopWorkers()
	for _, p := range f.procs {
		if p.exitErr != nil {
			f.report.Violations = append(f.report.Violations, fmt.Sprintf("worker pid %d: %v", p.pid, p.exitErr))
		}
		f.checkLog(p)
	}
	var dead int
	if err := f.admin.QueryRow(ctx, "SELECT count(*) FROM flow.workers WHERE state <> 'stopped'").Scan(&dead); err != nil {
		return err
	}
	if dead > 0 {
		f.report.Violations = append(f.report.Violations, fmt.Sprintf("%d workers did not stop cleanly (flow.workers)", dead))
	}
	f.report.check()
	return nil
}
