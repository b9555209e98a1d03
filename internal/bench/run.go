package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/jobs"
)

// Watchdog: completion is detected by Client.WaitMany (flow shapes) or River's
// event subscription (baseline); a cheap count every tick only reports progress and
// catches a shape that stopped moving.
const (
	watchTickFull  = 5 * time.Second
	watchTickQuick = 1 * time.Second
	stallFull      = 60 * time.Second
	stallQuick     = 15 * time.Second
)

// truncate empties the job and run tables, and with CASCADE every table
// that references them (htdag's own, such as a tree's counters). Run only
// starts on a database whose job and run tables are empty, so a referencing
// table can only hold rows of the benchmark's own runs. The concurrency
// keys' tables reference nothing and are emptied by name (fanout-keyed's keys
// start each run at a count of 0).
func truncate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, `TRUNCATE public.river_job, flow.node, flow.run, flow.concurrency_slot, flow.concurrency_wait CASCADE`)
	return err
}

// shapeRun holds one shape's moving parts.
type shapeRun struct {
	opts   Options
	shape  shape
	w      *workload
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	mw     *flow.Middleware
	res    *Result
	ops    *shapeOps
}

func (sr *shapeRun) logf(format string, args ...any) {
	fmt.Fprintf(sr.opts.Progress, "%-9s "+format+"\n", append([]any{sr.shape.name}, args...)...)
}

func runShape(ctx context.Context, pool *pgxpool.Pool, opts Options, s shape) (*Result, error) {
	if err := truncate(ctx, pool); err != nil {
		return nil, fmt.Errorf("truncating: %w", err)
	}
	// Start the shape with the previous shape's garbage returned to the OS,
	// then make the current RSS the peak.
	runtime.GC()
	debug.FreeOSMemory()
	rssReset := resetPeakRSS()

	sr := &shapeRun{opts: opts, shape: s, pool: pool, res: &Result{Shape: s.name}}
	sr.w = s.build(opts.Quick)
	sr.res.Nodes = sr.w.nodes
	sr.res.Runs = len(sr.w.specs)
	sr.logf("%s", s.describe(opts.Quick))

	var (
		fs  *funcStats
		cpu *cpuMeter
	)
	if sr.w.hierarchy {
		var note string
		if fs, note = startFuncStats(ctx, pool); fs == nil {
			sr.setFunctions(nil, note)
		}
		cpu = startCPU(ctx, pool)
	}

	if err := sr.newClient(); err != nil {
		_ = sr.stopOps()
		if fs != nil {
			fs.stop(ctx)
		}
		return nil, err
	}

	var (
		t0  time.Time
		err error
	)
	if sr.w.plainJobs > 0 {
		t0, err = sr.runPlain(ctx)
	} else {
		t0, err = sr.runFlow(ctx)
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	stopErr := errors.Join(sr.client.Stop(stopCtx), sr.stopOps())
	cancel()
	if cpu != nil {
		sr.setCPU(cpu.stop(ctx))
	}
	if fs != nil {
		sr.setFunctions(fs.stop(ctx))
	}
	if err != nil {
		return nil, err
	}
	if stopErr != nil {
		return nil, fmt.Errorf("stopping River: %w", stopErr)
	}

	// Read after Stop: the completer counts a batch once its commit returned,
	// which can be just after the run's last notification.
	if st := sr.mw.Stats(); st.Commits > 0 {
		sr.note("completer: %d completions in %d commits (%.1f per commit)",
			st.Completions, st.Commits, float64(st.Completions)/float64(st.Commits))
		if st.Failures > 0 {
			sr.note("completer: %d failed completions", st.Failures)
		}
	}
	if rss, ok := peakRSS(); ok && rssReset {
		sr.res.PeakRSSBytes = rss
	} else {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		sr.res.PeakRSSBytes = ms.Sys
		sr.note("peak memory is runtime Sys (no /proc/self VmHWM)")
	}

	if err := sr.measure(ctx, t0); err != nil {
		return nil, err
	}
	if sr.w.hierarchy {
		if err := sr.measureHierarchy(ctx); err != nil {
			return nil, err
		}
	}
	r := sr.res
	sr.logf("%d nodes in %s: %.0f nodes/s, step p50 %s p99 %s, insert %s, peak RSS %s",
		r.Nodes, fmtDur(r.Duration), r.NodesPerSec, fmtDur(r.StepP50), fmtDur(r.StepP99),
		fmtDur(r.InsertTime), fmtBytes(r.PeakRSSBytes))
	return r, nil
}

func (sr *shapeRun) note(format string, args ...any) {
	if sr.res.Notes != "" {
		sr.res.Notes += "; "
	}
	sr.res.Notes += fmt.Sprintf(format, args...)
}

// newClient builds a fresh River client from flow.RiverConfig with the
// built-in kinds and the shape's settings.
func (sr *shapeRun) newClient() error {
	workers := river.NewWorkers()
	jobs.Register(workers)
	cfg := flow.RiverConfig(sr.pool, workers)
	cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: sr.opts.MaxWorkers}}
	cfg.FetchCooldown = sr.opts.FetchCooldown
	cfg.FetchPollInterval = sr.opts.FetchPollInterval
	if sr.w.riverDefaults {
		cfg.FetchCooldown = RiverDefaultFetchCooldown
		cfg.FetchPollInterval = RiverDefaultFetchPollInterval
	}
	cfg.Logger = slog.New(slog.NewTextHandler(sr.opts.Progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, m := range cfg.Middleware {
		if fm, ok := m.(*flow.Middleware); ok {
			sr.mw = fm
		}
	}
	if sr.mw == nil {
		return errors.New("flow.RiverConfig has no *flow.Middleware")
	}
	if err := sr.installOps(cfg); err != nil {
		return err
	}
	client, err := river.NewClient(flow.NewDriver(sr.pool, nil), cfg)
	if err != nil {
		return fmt.Errorf("River client: %w", err)
	}
	sr.client = client
	return sr.serveOps(cfg)
}

// runPlain inserts plain River no-op jobs and waits for River to report each
// one completed. It returns the time just before the insert.
func (sr *shapeRun) runPlain(ctx context.Context) (time.Time, error) {
	n := sr.w.plainJobs
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: jobs.NoopArgs{}}
	}
	events, cancelSub := sr.client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: n + 1_000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	defer cancelSub()
	if err := sr.client.Start(ctx); err != nil {
		return time.Time{}, fmt.Errorf("starting River: %w", err)
	}

	t0 := time.Now()
	inserted, err := sr.client.InsertManyFast(ctx, params)
	sr.res.InsertTime = time.Since(t0)
	if err != nil {
		return t0, fmt.Errorf("inserting: %w", err)
	}
	if inserted != n {
		return t0, fmt.Errorf("inserted %d jobs, want %d", inserted, n)
	}

	w := sr.newWatchdog(ctx)
	defer w.stop()
	done := 0
	for done < n {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				return t0, fmt.Errorf("job %d: %s (state %s)", ev.Job.ID, ev.Kind, ev.Job.State)
			}
			done++
		case err := <-w.failed:
			return t0, err
		case <-ctx.Done():
			return t0, ctx.Err()
		}
	}
	sr.note("River's batch completer")
	return t0, nil
}

// runFlow starts the shape's runs and waits until each has finished
// (Client.WaitMany). It returns the time just before the first start.
func (sr *shapeRun) runFlow(ctx context.Context) (time.Time, error) {
	if err := sr.client.Start(ctx); err != nil {
		return time.Time{}, fmt.Errorf("starting River: %w", err)
	}

	fc := flow.NewClient(sr.pool, &flow.Config{MaxNodes: 200_000})
	t0 := time.Now()
	ids, err := startAll(ctx, fc, sr.w.specs, sr.w.starters, sr.w.batch)
	if err != nil {
		return t0, err
	}
	sr.res.InsertTime = time.Since(t0)
	sr.logf("inserted %d run(s), %d nodes, in %s", len(sr.w.specs), sr.w.nodes, fmtDur(sr.res.InsertTime))

	w := sr.newWatchdog(ctx)
	defer w.stop()
	wctx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	type waited struct {
		runs []*flow.Run
		err  error
	}
	done := make(chan waited, 1)
	go func() {
		runs, err := fc.WaitMany(wctx, ids)
		done <- waited{runs, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return t0, fmt.Errorf("waiting for the runs: %w", r.err)
		}
		for _, run := range r.runs {
			if run.State != flow.RunStateCompleted {
				return t0, fmt.Errorf("run %d finished %s, not completed: %s", run.ID, run.State, sr.stateSummary(ctx))
			}
		}
		sr.res.RunsCompleted = len(r.runs)
		return t0, nil
	case err := <-w.failed:
		return t0, err
	case <-ctx.Done():
		return t0, ctx.Err()
	}
}

// startAll starts every spec, from n goroutines at once, batch specs per
// call (one Start per spec when batch <= 1), and returns the run ids.
func startAll(ctx context.Context, fc *flow.Client, raws [][]byte, n, batch int) ([]int64, error) {
	specs := make([]flow.Specifier, len(raws))
	for i, raw := range raws {
		specs[i] = flow.JSONSpec(raw)
	}
	n = max(1, min(n, len(specs)))
	batch = max(1, batch)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
		ids   = make([]int64, 0, len(specs))
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next += batch
				stop := first != nil
				mu.Unlock()
				if stop || i >= len(specs) {
					return
				}
				var (
					got []int64
					err error
				)
				if batch == 1 {
					var id int64
					id, err = fc.Start(ctx, specs[i])
					got = []int64{id}
				} else {
					got, err = fc.StartMany(ctx, specs[i:min(i+batch, len(specs))]...)
				}
				if err == nil {
					mu.Lock()
					ids = append(ids, got...)
					mu.Unlock()
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("starting run %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return ids, first
}

// watchdog counts finalized jobs every tick, prints progress and fails the
// shape when nothing finalized for the stall limit.
type watchdog struct {
	failed chan error
	cancel context.CancelFunc
	done   chan struct{}
}

func (sr *shapeRun) newWatchdog(ctx context.Context) *watchdog {
	tick, stall := watchTickFull, stallFull
	if sr.opts.Quick {
		tick, stall = watchTickQuick, stallQuick
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watchdog{failed: make(chan error, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		// A tree that expands at run time can insert jobs for a long time
		// before any finalizes (expanded nodes wait as pending): inserted
		// jobs count as progress too.
		lastFinalized, lastTotal, lastMove := int64(-1), int64(-1), time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var finalized, total int64
			err := sr.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE finalized_at IS NOT NULL), count(*) FROM public.river_job`).
				Scan(&finalized, &total)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				w.failed <- fmt.Errorf("watchdog: %w", err)
				return
			}
			sr.logf("%d/%d jobs finalized", finalized, total)
			if finalized != lastFinalized || total != lastTotal {
				lastFinalized, lastTotal, lastMove = finalized, total, time.Now()
				continue
			}
			if time.Since(lastMove) > stall {
				w.failed <- fmt.Errorf("no job finalized or inserted for %s (%d/%d finalized): %s",
					stall, finalized, total, sr.stateSummary(ctx))
				return
			}
		}
	}()
	return w
}

func (w *watchdog) stop() {
	w.cancel()
	<-w.done
}

// stateSummary counts jobs and runs by state, for error messages.
func (sr *shapeRun) stateSummary(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var jobsBy, runsBy string
	err := sr.pool.QueryRow(ctx, `
		SELECT (SELECT coalesce(string_agg(state || ' ' || n, ', ' ORDER BY state), 'none')
		          FROM (SELECT state::text, count(*) AS n FROM public.river_job GROUP BY state) j),
		       (SELECT coalesce(string_agg(state || ' ' || n, ', ' ORDER BY state), 'none')
		          FROM (SELECT state, count(*) AS n FROM flow.run GROUP BY state) r)`).Scan(&jobsBy, &runsBy)
	if err != nil {
		return "(state unknown: " + err.Error() + ")"
	}
	return "jobs: " + jobsBy + "; runs: " + runsBy
}

// measureSQL reads a finished shape's figures from the job rows.
const measureSQL = `
WITH steps AS (
    SELECT extract(epoch FROM c.attempted_at - max(p.finalized_at))::float8 AS s
      FROM flow.node n
      JOIN public.river_job c ON c.id = n.job_id
     CROSS JOIN LATERAL unnest(n.parents) AS pp(id)
      JOIN public.river_job p ON p.id = pp.id
     WHERE n.parents <> '{}'
     GROUP BY n.job_id, c.attempted_at
), st AS (
    SELECT count(s) AS n, -- sub-workflow and map nodes are never attempted: no step
           coalesce(percentile_cont(0.50) WITHIN GROUP (ORDER BY s), 0) AS p50,
           coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY s), 0) AS p95,
           coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY s), 0) AS p99,
           coalesce(max(s), 0) AS mx
      FROM steps
)
SELECT (SELECT count(*) FROM public.river_job),
       (SELECT count(*) FROM public.river_job WHERE state = 'completed'),
       (SELECT max(finalized_at) FROM public.river_job),
       st.n, st.p50, st.p95, st.p99, st.mx,
       pg_total_relation_size('public.river_job') + pg_total_relation_size('flow.node') + pg_total_relation_size('flow.run')
  FROM st`

func (sr *shapeRun) measure(ctx context.Context, t0 time.Time) error {
	var (
		total, completed, steps int64
		last                    *time.Time
		p50, p95, p99, mx       float64
		dbBytes                 int64
	)
	err := sr.pool.QueryRow(ctx, measureSQL).Scan(&total, &completed, &last, &steps, &p50, &p95, &p99, &mx, &dbBytes)
	if err != nil {
		return fmt.Errorf("measuring: %w", err)
	}
	if int(total) != sr.w.nodes || completed != total {
		return fmt.Errorf("%d jobs, %d completed, want %d completed: %s", total, completed, sr.w.nodes, sr.stateSummary(ctx))
	}
	if last == nil {
		return errors.New("no job has finalized_at")
	}
	r := sr.res
	r.Duration = last.Sub(t0)
	if r.Duration > 0 {
		r.NodesPerSec = float64(total) / r.Duration.Seconds()
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	r.Steps = int(steps)
	r.StepP50, r.StepP95, r.StepP99, r.StepMax = sec(p50), sec(p95), sec(p99), sec(mx)
	r.DBBytesPerNode = float64(dbBytes) / float64(total)
	return nil
}

// fmtDur prints a duration with three significant digits in a fitting unit.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtBytes(b uint64) string {
	const mib = 1 << 20
	switch {
	case b >= 10*mib:
		return fmt.Sprintf("%.0f MiB", float64(b)/mib)
	case b >= mib:
		return fmt.Sprintf("%.1f MiB", float64(b)/mib)
	default:
		return fmt.Sprintf("%.0f KiB", float64(b)/1024)
	}
}
