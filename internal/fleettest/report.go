package fleettest

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// ShapeResult is one shape's measurements.
type ShapeResult struct {
	Shape string `json:"shape"`
	// Processes is the number of worker processes; Direct is set for the
	// single worker connected directly with worker run's defaults.
	Processes     int  `json:"processes"`
	Direct        bool `json:"direct"`
	Runs          int  `json:"runs"`
	RunsCompleted int  `json:"runs_completed"`
	Nodes         int  `json:"nodes"`
	// Elapsed runs from just before the first start to the last job's
	// finalized_at.
	Elapsed     time.Duration `json:"elapsed_ns"`
	NodesPerSec float64       `json:"nodes_per_sec"`
	// Steps of the chain (alone, or in the mixed shape): a node's
	// attempted_at minus its parent's finalized_at.
	Steps   int           `json:"steps"`
	StepP50 time.Duration `json:"step_p50_ns"`
	StepP95 time.Duration `json:"step_p95_ns"`
	StepP99 time.Duration `json:"step_p99_ns"`
	StepMax time.Duration `json:"step_max_ns"`
	// StepP50Runs is the step p50 of each run of the chain where it ran
	// more than once (Options.ChainRuns); the result is the run with the
	// median of them.
	StepP50Runs []time.Duration `json:"step_p50_runs_ns,omitempty"`
	// ServerCPU is the CPU time of PostgreSQL's processes over the shape;
	// WorkerCPU that of the worker processes.
	ServerCPU time.Duration `json:"server_cpu_ns"`
	WorkerCPU time.Duration `json:"worker_cpu_ns"`
	// WriteXacts is the transactions that wrote (transaction ids
	// assigned); WALBytes the WAL written.
	WriteXacts int64 `json:"write_xacts"`
	WALBytes   int64 `json:"wal_bytes"`
	// InsertNotifications and FinishNotifications are the wake-ups
	// (public.river_insert) and run finishes (flow_run_finished) heard: at
	// most one each per notifying transaction.
	InsertNotifications int64 `json:"insert_notifications"`
	FinishNotifications int64 `json:"finish_notifications"`
	// OwnWakeups are the wake-ups sent to chosen workers on their own
	// channels (flow.notify_runnable): a release that chooses two workers
	// sends two, in one notifying transaction.
	OwnWakeups int64 `json:"own_wakeups"`
	// PooledXacts is the transactions PgBouncer served; PoolerWait the time
	// its clients waited for a server connection, in total.
	PooledXacts int64         `json:"pooled_xacts"`
	PoolerWait  time.Duration `json:"pooler_wait_ns"`
	// DiskBytes is the size of river_job, flow.node, flow.run and
	// flow.tree_count (indexes and TOAST included) after the shape.
	DiskBytes int64 `json:"disk_bytes"`
}

func (r ShapeResult) perNode(v float64) float64 { return v / float64(r.Nodes) }

// NodesPerServerCore is nodes per second of PostgreSQL CPU time.
func (r ShapeResult) NodesPerServerCore() float64 {
	if r.ServerCPU <= 0 {
		return 0
	}
	return float64(r.Nodes) / r.ServerCPU.Seconds()
}

func (r ShapeResult) stepsText() string {
	if r.Steps == 0 {
		return ""
	}
	return fmt.Sprintf(", chain step p50 %s p99 %s", fmtDur(r.StepP50), fmtDur(r.StepP99))
}

// NotifyResult is the commit rate of one-row INSERT transactions with and
// without pg_notify, from Clients sessions for Duration each.
type NotifyResult struct {
	Clients             int           `json:"clients"`
	Duration            time.Duration `json:"duration_ns"`
	PlainCommitsPerSec  float64       `json:"plain_commits_per_sec"`
	NotifyCommitsPerSec float64       `json:"notify_commits_per_sec"`
}

// IdleResult is what a fleet of Processes costs with nothing to do, over
// Window: CPU in cores, transactions and WAL per second.
type IdleResult struct {
	Processes         int           `json:"processes"`
	Window            time.Duration `json:"window_ns"`
	ServerCores       float64       `json:"server_cores"`
	WorkerCores       float64       `json:"worker_cores"`
	PooledXactsPerSec float64       `json:"pooled_xacts_per_sec"`
	WriteXactsPerSec  float64       `json:"write_xacts_per_sec"`
	WALBytesPerSec    float64       `json:"wal_bytes_per_sec"`
}

// Report is what a fleet run measured and found.
type Report struct {
	Machine   string        `json:"machine"`
	Options   Options       `json:"options"`
	StartedAt time.Time     `json:"started_at"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Notify    NotifyResult  `json:"notify"`
	// Baseline is one worker connected directly with worker run's
	// defaults; Fleet the pooled fleet at each step.
	Baseline []ShapeResult `json:"baseline"`
	Fleet    []ShapeResult `json:"fleet"`
	// Idle is the fleet at rest at each step.
	Idle []IdleResult `json:"idle"`
	// PeakBackends is the most client backends PostgreSQL had at once
	// while the fleet ran.
	PeakBackends int64 `json:"peak_backends"`
	// ChainRatio is the fleet's chain step p50 over the direct worker's.
	ChainRatio float64 `json:"chain_ratio"`
	// LogProblems are the workers' error lines and warnings about
	// connections.
	LogProblems []string `json:"log_problems"`
	// Violations are broken guarantees; TargetsMissed the figures outside
	// their targets. Both empty: a pass.
	Violations    []string `json:"violations"`
	TargetsMissed []string `json:"targets_missed"`
}

// ChainTarget is the largest ratio of the fleet's chain step p50 to one
// direct worker's.
const ChainTarget = 2.0

// check fills in the acceptance: every run completed, no log problems, the
// chain within its target.
func (r *Report) check() {
	for _, s := range append(append([]ShapeResult(nil), r.Baseline...), r.Fleet...) {
		if s.RunsCompleted != s.Runs {
			r.Violations = append(r.Violations, fmt.Sprintf("%s with %d processes: %d of %d runs completed",
				s.Shape, s.Processes, s.RunsCompleted, s.Runs))
		}
	}
	if len(r.LogProblems) > 0 {
		r.Violations = append(r.Violations, fmt.Sprintf("%d worker log lines are errors or warnings about connections", len(r.LogProblems)))
	}
	for _, name := range []string{shapeFanOut, shapeDiamonds, shapeChain, shapeMixed} {
		if len(r.Options.Shapes) > 0 && !slices.Contains(r.Options.Shapes, name) {
			r.TargetsMissed = append(r.TargetsMissed, fmt.Sprintf("the %s shape was not measured (-shapes): the acceptance needs every shape", name))
		}
	}
	base, fleet := r.find(r.Baseline, shapeChain, 0), r.find(r.Fleet, shapeChain, r.Options.Processes)
	if base != nil && fleet != nil && base.StepP50 > 0 {
		r.ChainRatio = float64(fleet.StepP50) / float64(base.StepP50)
		if r.ChainRatio > ChainTarget {
			r.TargetsMissed = append(r.TargetsMissed, fmt.Sprintf("chain step p50 with %d processes through PgBouncer is %.1f× one direct worker's (%s vs %s; target %.0f×)",
				r.Options.Processes, r.ChainRatio, fmtDur(fleet.StepP50), fmtDur(base.StepP50), ChainTarget))
		}
	}
}

// find returns the result of shape with processes (0: any).
func (r *Report) find(results []ShapeResult, shape string, processes int) *ShapeResult {
	for i := range results {
		if results[i].Shape == shape && (processes == 0 || results[i].Processes == processes) {
			return &results[i]
		}
	}
	return nil
}

// Passed reports whether nothing broke and every target was met.
func (r *Report) Passed() bool { return len(r.Violations) == 0 && len(r.TargetsMissed) == 0 }

func (r *Report) String() string {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "machine: %s\n", r.Machine)
	fsync := "on"
	if o.NoFsync {
		fsync = "off"
	}
	fmt.Fprintf(&b, "fleet: up to %d `worker run` processes, each --max-workers %d and --max-conns %d through PgBouncer "+
		"(transaction mode, %d server connections, pgx %s) plus one direct connection; PostgreSQL max_connections %d, fsync %s\n",
		o.Processes, o.MaxWorkers, o.MaxConns, o.PoolSize, o.ExecMode, o.MaxConnections, fsync)
	fmt.Fprintf(&b, "baseline: one `worker run` with its defaults (--max-workers 500, --max-conns 20), connected directly\n")
	fmt.Fprintf(&b, "peak client backends while the fleet ran: %d of %d\n", r.PeakBackends, o.MaxConnections)
	fmt.Fprintf(&b, "NOTIFY lock: %d sessions commit %.0f one-row INSERTs/s, %.0f/s when each also calls pg_notify\n\n",
		r.Notify.Clients, r.Notify.PlainCommitsPerSec, r.Notify.NotifyCommitsPerSec)

	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "shape\tprocesses\truns\tnodes\telapsed\tnodes/s\tstep p50\tp95\tp99\tmax\t")
	rows := append(append([]ShapeResult(nil), r.Baseline...), r.Fleet...)
	for _, s := range rows {
		procs := fmt.Sprint(s.Processes)
		if s.Direct {
			procs = "1 direct"
		}
		steps := "\t\t\t"
		if s.Steps > 0 {
			steps = fmt.Sprintf("%s\t%s\t%s\t%s", fmtDur(s.StepP50), fmtDur(s.StepP95), fmtDur(s.StepP99), fmtDur(s.StepMax))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%.0f\t%s\t\n", s.Shape, procs, s.Runs, s.Nodes, fmtDur(s.Elapsed), s.NodesPerSec, steps)
	}
	_ = w.Flush()
	b.WriteString("\nper node:\n")
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "shape\tprocesses\tPG CPU\tnodes/s per PG core\tworker CPU\twrite xacts\tWAL bytes\twake-ups\town wake-ups\tfinishes\tpooled xacts\tdisk bytes\tdisk/run\tpooler wait\t")
	for _, s := range rows {
		procs := fmt.Sprint(s.Processes)
		if s.Direct {
			procs = "1 direct"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%.0f\t%s\t%.2f\t%.0f\t%.3f\t%.3f\t%.3f\t%.2f\t%.0f\t%.0f\t%s\t\n", s.Shape, procs,
			fmtDur(s.ServerCPU/time.Duration(s.Nodes)), s.NodesPerServerCore(), fmtDur(s.WorkerCPU/time.Duration(s.Nodes)),
			s.perNode(float64(s.WriteXacts)), s.perNode(float64(s.WALBytes)),
			s.perNode(float64(s.InsertNotifications)), s.perNode(float64(s.OwnWakeups)), s.perNode(float64(s.FinishNotifications)),
			s.perNode(float64(s.PooledXacts)), s.perNode(float64(s.DiskBytes)), float64(s.DiskBytes)/float64(s.Runs),
			fmtDur(s.PoolerWait))
	}
	_ = w.Flush()

	b.WriteString("\nat rest (nothing to do):\n")
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "processes\tPG cores\tworker cores\tpooled xacts/s\twrite xacts/s\tWAL bytes/s\t")
	for _, i := range r.Idle {
		fmt.Fprintf(w, "%d\t%.3f\t%.3f\t%.0f\t%.1f\t%.0f\t\n", i.Processes, i.ServerCores, i.WorkerCores,
			i.PooledXactsPerSec, i.WriteXactsPerSec, i.WALBytesPerSec)
	}
	_ = w.Flush()

	b.WriteString("\nacceptance:\n")
	fmt.Fprintf(&b, "  runs completed: %s\n", map[bool]string{true: "all", false: "NOT ALL"}[r.allCompleted()])
	if r.ChainRatio > 0 {
		fmt.Fprintf(&b, "  chain step p50, %d processes through PgBouncer / one direct worker: %.2f× (target at most %.0f×)\n",
			o.Processes, r.ChainRatio, ChainTarget)
		base, fleet := r.find(r.Baseline, shapeChain, 0), r.find(r.Fleet, shapeChain, o.Processes)
		if len(base.StepP50Runs) > 1 || len(fleet.StepP50Runs) > 1 {
			fmt.Fprintf(&b, "    (the median run of each: the fleet's p50s %s; the direct worker's %s)\n",
				fmtDurs(fleet.StepP50Runs), fmtDurs(base.StepP50Runs))
		}
	}
	fmt.Fprintf(&b, "  worker log lines about errors or connections: %d\n", len(r.LogProblems))
	for i, l := range r.LogProblems {
		if i == 10 {
			fmt.Fprintf(&b, "    ... %d more\n", len(r.LogProblems)-10)
			break
		}
		fmt.Fprintf(&b, "    %s\n", l)
	}
	r.writeProjection(&b)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "VIOLATION: %s\n", v)
	}
	for _, t := range r.TargetsMissed {
		fmt.Fprintf(&b, "TARGET MISSED: %s\n", t)
	}
	fmt.Fprintf(&b, "elapsed %s\n", r.Elapsed.Round(time.Second))
	return b.String()
}

func (r *Report) allCompleted() bool {
	for _, s := range append(append([]ShapeResult(nil), r.Baseline...), r.Fleet...) {
		if s.RunsCompleted != s.Runs {
			return false
		}
	}
	return true
}

// writeProjection derives, from this run's figures, what bounds a larger
// primary: CPU (nodes per PostgreSQL core, times cores, assuming the work
// spreads over them, which this machine cannot show) and the NOTIFY lock
// (notifying commits per second, which does not grow with cores, over the
// wake-ups and finishes per node). These are projections, not measurements.
func (r *Report) writeProjection(b *strings.Builder) {
	b.WriteString("\nprojection (derived from the figures above, not measured):\n")
	for _, name := range []string{shapeFanOut, shapeDiamonds, shapeChain} {
		s := r.find(r.Fleet, name, r.Options.Processes)
		if s == nil || s.NodesPerServerCore() == 0 {
			continue
		}
		// A release that chose workers notifies each on its own channel:
		// about two per notifying transaction.
		notifies := s.perNode(float64(s.InsertNotifications+s.FinishNotifications) + float64(s.OwnWakeups)/2)
		bound := "no NOTIFY bound"
		if notifies > 0 && r.Notify.NotifyCommitsPerSec > 0 {
			bound = fmt.Sprintf("NOTIFY lock bound ≈ %.0f nodes/s (%.0f notifying commits/s ÷ %.3g per node)",
				r.Notify.NotifyCommitsPerSec/notifies, r.Notify.NotifyCommitsPerSec, notifies)
		}
		fmt.Fprintf(b, "  %-8s CPU bound: %.0f nodes/s per PostgreSQL core → 16 cores ≈ %.0f, 64 cores ≈ %.0f if it spread evenly; %s; WAL at 16 cores ≈ %.0f MB/s\n",
			name, s.NodesPerServerCore(), 16*s.NodesPerServerCore(), 64*s.NodesPerServerCore(), bound,
			16*s.NodesPerServerCore()*s.perNode(float64(s.WALBytes))/1e6)
	}
}

// fmtDurs prints durations as fmtDur does, separated by commas.
func fmtDurs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmtDur(d)
	}
	return strings.Join(parts, ", ")
}

// fmtDur prints a duration rounded to what matters at its size.
func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}
