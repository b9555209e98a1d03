package fleettest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/jobs"
)

// The shapes.
const (
	shapeFanOut   = "fan-out"
	shapeDiamonds = "diamonds"
	shapeChain    = "chain"
	shapeMixed    = "mixed"
)

// shape is a set of runs started together and measured as one.
type shape struct {
	name  string
	specs []flow.Specifier
	nodes int
	// chain is the index in specs of the chain whose steps are reported
	// (-1: none).
	chain int
}

// shapes are the shapes measured at each step, of those Options.Shapes
// names.
func (f *fleet) shapes() []shape {
	var out []shape
	for _, s := range []struct {
		name string
		make func() shape
	}{{shapeFanOut, f.fanOutShape}, {shapeDiamonds, f.diamondsShape}, {shapeChain, f.chainShape}} {
		if f.wants(s.name) {
			out = append(out, s.make())
		}
	}
	return out
}

// wants reports whether Options.Shapes has the shape.
func (f *fleet) wants(name string) bool {
	return len(f.o.Shapes) == 0 || slices.Contains(f.o.Shapes, name)
}

func (f *fleet) fanOutShape() shape {
	w := flow.New("fan-out")
	src := w.Add("src", jobs.NoopArgs{})
	mids := make([]*flow.Node, f.o.FanOut)
	for i := range mids {
		mids[i] = w.Add(fmt.Sprintf("m%d", i), jobs.NoopArgs{}, flow.After(src))
	}
	w.Add("sink", jobs.NoopArgs{}, flow.After(mids...))
	return shape{name: shapeFanOut, specs: []flow.Specifier{w}, nodes: f.o.FanOut + 2, chain: -1}
}

// diamondsShape is o.Diamonds runs of a -> {b, c, d} -> e.
func (f *fleet) diamondsShape() shape {
	specs := make([]flow.Specifier, f.o.Diamonds)
	for i := range specs {
		w := flow.New("diamond")
		a := w.Add("a", jobs.NoopArgs{})
		b := w.Add("b", jobs.NoopArgs{}, flow.After(a))
		c := w.Add("c", jobs.NoopArgs{}, flow.After(a))
		d := w.Add("d", jobs.NoopArgs{}, flow.After(a))
		w.Add("e", jobs.NoopArgs{}, flow.After(b, c, d))
		specs[i] = w
	}
	return shape{name: shapeDiamonds, specs: specs, nodes: 5 * f.o.Diamonds, chain: -1}
}

func (f *fleet) chainShape() shape {
	w := flow.New("chain")
	prev := w.Add("c0", jobs.NoopArgs{})
	for i := 1; i < f.o.Chain; i++ {
		prev = w.Add(fmt.Sprintf("c%d", i), jobs.NoopArgs{}, flow.After(prev))
	}
	return shape{name: shapeChain, specs: []flow.Specifier{w}, nodes: f.o.Chain, chain: 0}
}

// mixedShape is the three shapes at once, the chain started first.
func (f *fleet) mixedShape() shape {
	s := shape{name: shapeMixed, chain: 0}
	for _, part := range []shape{f.chainShape(), f.fanOutShape(), f.diamondsShape()} {
		s.specs = append(s.specs, part.specs...)
		s.nodes += part.nodes
	}
	return s
}

// startBatch is how many runs one StartMany starts.
const startBatch = 100

// runShape runs a shape on an empty job table and measures it.
func (f *fleet) runShape(ctx context.Context, s shape, processes int) (ShapeResult, error) {
	r := ShapeResult{Shape: s.name, Processes: processes, Runs: len(s.specs), Nodes: s.nodes}
	// Empty tables and a checkpoint: every shape starts from the same
	// state, and its WAL holds the full-page images of each page's first
	// change after a checkpoint.
	if _, err := f.admin.Exec(ctx, "TRUNCATE public.river_job, flow.node, flow.run, flow.tree_count, flow.concurrency_slot, flow.concurrency_wait CASCADE"); err != nil {
		return r, fmt.Errorf("truncating: %w", err)
	}
	if _, err := f.admin.Exec(ctx, "CHECKPOINT"); err != nil {
		return r, fmt.Errorf("checkpoint: %w", err)
	}
	before, err := f.snapshot(ctx)
	if err != nil {
		return r, err
	}
	f.resetStatements(ctx, processes)
	defer f.logStatements(ctx, s.name, processes)
	t0 := time.Now()
	ids := make([]int64, 0, len(s.specs))
	for i := 0; i < len(s.specs); i += startBatch {
		got, err := f.client.StartMany(ctx, s.specs[i:min(i+startBatch, len(s.specs))]...)
		if err != nil {
			return r, fmt.Errorf("%s: starting runs: %w", s.name, err)
		}
		ids = append(ids, got...)
	}
	waitCtx, cancel := context.WithTimeout(ctx, f.o.ShapeTimeout)
	defer cancel()
	runs, err := f.client.WaitMany(waitCtx, ids)
	if err != nil {
		return r, fmt.Errorf("%s with %d processes: %w (%v); %s", s.name, processes, errShapeTimeout, err, f.stateSummary(ctx))
	}
	after, err := f.snapshot(ctx)
	if err != nil {
		return r, err
	}
	for _, run := range runs {
		if run.State == flow.RunStateCompleted {
			r.RunsCompleted++
		}
	}

	var (
		jobsTotal, jobsCompleted int
		last                     time.Time
		diskBytes                int64
	)
	err = f.admin.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE state = 'completed'), max(finalized_at),
		       pg_total_relation_size('public.river_job') + pg_total_relation_size('flow.node')
		       + pg_total_relation_size('flow.run') + pg_total_relation_size('flow.tree_count')
		  FROM public.river_job`).Scan(&jobsTotal, &jobsCompleted, &last, &diskBytes)
	if err != nil {
		return r, fmt.Errorf("measuring %s: %w", s.name, err)
	}
	if jobsTotal != s.nodes || jobsCompleted != jobsTotal {
		f.report.Violations = append(f.report.Violations, fmt.Sprintf("%s with %d processes: %d jobs, %d completed, want %d",
			s.name, processes, jobsTotal, jobsCompleted, s.nodes))
	}
	r.Elapsed = last.Sub(t0)
	if r.Elapsed > 0 {
		r.NodesPerSec = float64(s.nodes) / r.Elapsed.Seconds()
	}
	r.DiskBytes = diskBytes
	r.ServerCPU = after.serverCPU - before.serverCPU
	r.WorkerCPU = after.workerCPU - before.workerCPU
	r.WriteXacts = after.xid - before.xid
	r.PooledXacts = after.pooledXacts - before.pooledXacts
	r.PoolerWait = after.poolerWait - before.poolerWait
	r.InsertNotifications = after.inserts - before.inserts
	r.FinishNotifications = after.finishes - before.finishes
	r.OwnWakeups = after.own - before.own
	if err := f.admin.QueryRow(ctx, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint", after.lsn, before.lsn).Scan(&r.WALBytes); err != nil {
		return r, err
	}
	if s.chain >= 0 {
		if err := f.chainSteps(ctx, ids[s.chain], &r); err != nil {
			return r, err
		}
	}
	f.logf("%-8s %2d processes: %6d nodes in %7s, %8.0f nodes/s%s", s.name, processes, s.nodes,
		r.Elapsed.Round(time.Millisecond), r.NodesPerSec, r.stepsText())
	return r, nil
}

// runShapeForRatio runs a shape as runShape does, the chain
// Options.ChainRuns times: its result is the run with the median step p50,
// with every run's p50.
func (f *fleet) runShapeForRatio(ctx context.Context, s shape, processes int) (ShapeResult, error) {
	if s.name != shapeChain || f.o.ChainRuns <= 1 {
		return f.runShape(ctx, s, processes)
	}
	results := make([]ShapeResult, 0, f.o.ChainRuns)
	for range f.o.ChainRuns {
		r, err := f.runShape(ctx, s, processes)
		if err != nil {
			return r, err
		}
		results = append(results, r)
	}
	p50s := make([]time.Duration, len(results))
	for i, r := range results {
		p50s[i] = r.StepP50
	}
	slices.SortStableFunc(results, func(a, b ShapeResult) int { return cmp.Compare(a.StepP50, b.StepP50) })
	median := results[len(results)/2]
	median.StepP50Runs = p50s
	return median, nil
}

// chainSteps reads the chain run's step times: each node's attempted_at
// minus its parent's finalized_at.
func (f *fleet) chainSteps(ctx context.Context, runID int64, r *ShapeResult) error {
	var p50, p95, p99, mx float64
	err := f.admin.QueryRow(ctx, `
		WITH steps AS (
		    SELECT extract(epoch FROM c.attempted_at - p.finalized_at)::float8 AS s
		      FROM flow.node n
		      JOIN public.river_job c ON c.id = n.job_id
		      JOIN public.river_job p ON p.id = n.parents[1]
		     WHERE n.run_id = $1 AND cardinality(n.parents) = 1)
		SELECT count(*), percentile_cont(0.50) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP (ORDER BY s),
		       percentile_cont(0.99) WITHIN GROUP (ORDER BY s), max(s)
		  FROM steps`, runID).Scan(&r.Steps, &p50, &p95, &p99, &mx)
	if err != nil {
		return fmt.Errorf("reading the chain's steps: %w", err)
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	r.StepP50, r.StepP95, r.StepP99, r.StepMax = sec(p50), sec(p95), sec(p99), sec(mx)
	return nil
}

// stateSummary counts runs and unfinished jobs by state, for error
// messages.
func (f *fleet) stateSummary(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rows, err := f.admin.Query(ctx, `
		SELECT 'runs ' || state, count(*) FROM flow.run GROUP BY state
		 UNION ALL
		SELECT 'jobs ' || state, count(*) FROM public.river_job WHERE state <> 'completed' GROUP BY state
		 ORDER BY 1`)
	if err != nil {
		return "(state unknown: " + err.Error() + ")"
	}
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var (
			what string
			n    int
		)
		err := row.Scan(&what, &n)
		return fmt.Sprintf("%s %d", what, n), err
	})
	if err != nil {
		return "(state unknown: " + err.Error() + ")"
	}
	return strings.Join(counts, ", ")
}
