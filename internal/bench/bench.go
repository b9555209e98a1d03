// Package bench measures htdag end to end on a real PostgreSQL: how many
// nodes per second a process works for a few DAG shapes, compared with plain
// River jobs on the same settings, how long a child waits after its last
// parent completed, how long starting a run takes, and what a run costs in
// memory and disk.
//
// Run is destructive: it needs a database with htdag's migrations and no jobs
// or runs in it, and it TRUNCATEs public.river_job, flow.node, flow.run and
// the concurrency keys' tables (CASCADE) before every shape and once more at the end; the hierarchy shapes
// set track_functions on the database while they run. Nothing else may work
// jobs on that database meanwhile. Use a database of its own (see
// docs/BENCHMARKS.md).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/flow"
)

// Options choose the shapes, their size and the worker settings. Zero values
// mean htdag's defaults (flow.DefaultMaxWorkers, flow.DefaultFetchCooldown,
// flow.DefaultFetchPollInterval).
type Options struct {
	// Quick runs every shape at 1/100 of its size (seconds in all).
	Quick bool
	// Shapes names the shapes to run (see [AllShapes]), or groups of them
	// ([GroupHierarchy], [GroupAll]); nil runs the default ones ([Shapes]:
	// all but the 100,000-node hierarchy shapes).
	// The ratio to baseline is only filled in when baseline is among them.
	Shapes []string
	// MaxWorkers is River's MaxWorkers for the default queue.
	MaxWorkers int
	// FetchCooldown and FetchPollInterval are River's fetch settings for
	// every shape except "defaults", which uses River's own defaults.
	FetchCooldown, FetchPollInterval time.Duration
	// Progress, when not nil, receives a line as each shape starts and ends,
	// a progress line every few seconds, and River's warnings.
	Progress io.Writer
	// HTTPAddr, when set, serves flowhttp (probes, metrics, pages) on this
	// address while each shape runs, its metrics observer installed in the
	// flow middleware: the hot path with the HTTP server on.
	HTTPAddr string
	// Trace installs flowotel tracing with a batching TracerProvider whose
	// exporter discards the spans: the hot path with tracing on, without a
	// collector's cost.
	Trace bool

	ops *opsListener
}

// River's own fetch defaults, used by the "defaults" shape.
const (
	RiverDefaultFetchCooldown     = 100 * time.Millisecond
	RiverDefaultFetchPollInterval = 1 * time.Second
)

// Report is the outcome of one Run.
type Report struct {
	// Machine names the CPU, cores, memory, PostgreSQL and Go versions.
	Machine  string   `json:"machine"`
	Settings Settings `json:"settings"`
	Results  []Result `json:"results"`
	// StartedAt and Elapsed cover the whole Run.
	StartedAt time.Time     `json:"started_at"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// Settings are the worker and database settings the shapes ran with.
type Settings struct {
	Quick             bool          `json:"quick"`
	MaxWorkers        int           `json:"max_workers"`
	FetchCooldown     time.Duration `json:"fetch_cooldown_ns"`
	FetchPollInterval time.Duration `json:"fetch_poll_interval_ns"`
	// DefaultsFetchCooldown and DefaultsFetchPollInterval are the "defaults"
	// shape's fetch settings (River's own defaults).
	DefaultsFetchCooldown     time.Duration `json:"defaults_fetch_cooldown_ns"`
	DefaultsFetchPollInterval time.Duration `json:"defaults_fetch_poll_interval_ns"`
	// PoolMaxConns is the connection pool's size.
	PoolMaxConns int32 `json:"pool_max_conns"`
	// HTTPAddr and Trace: the operations surface that was on (Options).
	HTTPAddr string `json:"http_addr,omitempty"`
	Trace    bool   `json:"trace,omitempty"`
	// River is the River module version built in.
	River string `json:"river"`
	// Postgres holds the server settings that matter most for commit-bound
	// work (synchronous_commit, shared_buffers, ...).
	Postgres map[string]string `json:"postgres"`
	// Shapes describes each shape at the size it ran.
	Shapes map[string]string `json:"shapes"`
}

// Result is one shape's measurements.
type Result struct {
	Shape string `json:"shape"`
	// Runs is the number of runs started (0 for baseline, which has none);
	// RunsCompleted is how many finished completed (Run fails otherwise).
	Runs          int `json:"runs"`
	RunsCompleted int `json:"runs_completed"`
	// Nodes is the number of jobs worked.
	Nodes int `json:"nodes"`
	// NodesPerSec is Nodes divided by Duration.
	NodesPerSec float64 `json:"nodes_per_sec"`
	// RatioToBaseline is NodesPerSec over baseline's (0 when baseline did
	// not run).
	RatioToBaseline float64 `json:"ratio_to_baseline"`
	// Duration runs from just before the first insert to the last job's
	// finalized_at.
	Duration time.Duration `json:"duration_ns"`
	// Steps is the number of non-root nodes River worked, each giving one
	// step time: its attempted_at minus the latest finalized_at of its
	// parents (sub-workflow and map nodes are not worked: no step).
	Steps   int           `json:"steps"`
	StepP50 time.Duration `json:"step_p50_ns"`
	StepP95 time.Duration `json:"step_p95_ns"`
	StepP99 time.Duration `json:"step_p99_ns"`
	StepMax time.Duration `json:"step_max_ns"`
	// InsertTime is the time to insert the run(s) (all of them, for shapes
	// with many runs started at once).
	InsertTime time.Duration `json:"insert_ns"`
	// PeakRSSBytes is the process's peak resident set during the shape
	// (VmHWM after resetting it; runtime Sys where /proc is missing).
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	// DBBytesPerNode is the size of river_job, flow.node and flow.run
	// (with indexes and TOAST) after the shape, divided by Nodes.
	DBBytesPerNode float64 `json:"db_bytes_per_node"`
	// Notes holds the completer's grouping and anything unusual.
	Notes string `json:"notes"`
	// Hierarchy holds the hierarchy shapes' tree, release latencies by
	// kind and engine function times (nil for the other shapes).
	Hierarchy *Hierarchy `json:"hierarchy,omitempty"`
}

// ErrNotEmpty is returned when the database already holds jobs or runs:
// Run truncates those tables, so it only runs on a database of its own.
var ErrNotEmpty = errors.New("bench: the database already has River jobs or flow runs; " +
	"the benchmark truncates river_job, flow.node and flow.run, so give it an empty database of its own")

func (o Options) withDefaults() Options {
	if o.MaxWorkers <= 0 {
		o.MaxWorkers = flow.DefaultMaxWorkers
	}
	if o.FetchCooldown <= 0 {
		o.FetchCooldown = flow.DefaultFetchCooldown
	}
	if o.FetchPollInterval <= 0 {
		o.FetchPollInterval = flow.DefaultFetchPollInterval
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Run measures the chosen shapes one after another on pool's database,
// which must be migrated and empty (see the package comment). It stops at
// the first shape that fails, returning the report so far and the error.
func Run(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	selected, err := selectShapes(opts.Shapes)
	if err != nil {
		return nil, err
	}
	var busy bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.river_job) OR EXISTS (SELECT 1 FROM flow.run)`).Scan(&busy); err != nil {
		return nil, fmt.Errorf("bench: checking the database is migrated and empty: %w", err)
	}
	if busy {
		return nil, ErrNotEmpty
	}

	rep := &Report{StartedAt: time.Now()}
	rep.Machine, rep.Settings.Postgres, err = machine(ctx, pool)
	if err != nil {
		return nil, err
	}
	rep.Settings.Quick = opts.Quick
	rep.Settings.MaxWorkers = opts.MaxWorkers
	rep.Settings.FetchCooldown = opts.FetchCooldown
	rep.Settings.FetchPollInterval = opts.FetchPollInterval
	rep.Settings.DefaultsFetchCooldown = RiverDefaultFetchCooldown
	rep.Settings.DefaultsFetchPollInterval = RiverDefaultFetchPollInterval
	rep.Settings.PoolMaxConns = pool.Config().MaxConns
	rep.Settings.HTTPAddr = opts.HTTPAddr
	rep.Settings.Trace = opts.Trace
	if opts.HTTPAddr != "" {
		if opts.ops, err = listenOps(opts.HTTPAddr); err != nil {
			return nil, err
		}
		defer opts.ops.close()
	}
	rep.Settings.River = moduleVersion("github.com/riverqueue/river")
	rep.Settings.Shapes = map[string]string{}
	for _, s := range selected {
		rep.Settings.Shapes[s.name] = s.describe(opts.Quick)
	}

	defer func() {
		// Leave the tables empty, so the next Run finds them so.
		if keepLastShape {
			rep.Elapsed = time.Since(rep.StartedAt)
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = truncate(ctx, pool)
		rep.Elapsed = time.Since(rep.StartedAt)
	}()

	var baseline float64
	for _, s := range selected {
		res, err := runShape(ctx, pool, opts, s)
		if err != nil {
			return rep, fmt.Errorf("bench: shape %s: %w", s.name, err)
		}
		if s.name == ShapeBaseline {
			baseline = res.NodesPerSec
		}
		rep.Results = append(rep.Results, *res)
	}
	if baseline > 0 {
		for i := range rep.Results {
			rep.Results[i].RatioToBaseline = rep.Results[i].NodesPerSec / baseline
		}
	}
	return rep, nil
}

// keepLastShape leaves the last shape's rows in place for inspection (set by
// TestFull from HTDAG_BENCH_KEEP).
var keepLastShape bool

// moduleVersion is the version of module path built into this binary.
func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(no build info)"
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "(see go.mod)" // test binaries carry no dependency list
}
