// Package soak runs a fleet of `worker run` processes against a private
// PostgreSQL cluster while it kills workers with -9 at random, restarts
// PostgreSQL under load and cancels expanding trees mid-flight, then checks
// what must hold whatever crashes: no effect lost, duplicated or phantom, no
// node started before its parents completed, no deadlock, no node discarded
// for its workers' deaths, no node of a cancelled tree completed after the
// cancel, every run finished and `worker doctor` clean; and it measures how
// long a killed worker's node waited to run again.
//
// `make soak` runs the full soak (internal/soak/cmd); a short one runs in
// `make test` (soak_test.go).
package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/pgcluster"
	"github.com/htdag/htdag/internal/soak/soakkinds"
	"github.com/htdag/htdag/migrations"
)

// Options shape a soak. Zero fields take the defaults of the full soak.
type Options struct {
	// Duration is how long faults are injected (default 3 min).
	Duration time.Duration
	// Workers is the fleet's size (default 4).
	Workers int
	// KillEvery is the mean time between two kill -9s (default 1.3 s, about
	// 135 kills in 3 minutes).
	KillEvery time.Duration
	// Restarts are the PostgreSQL restarts, in order, spread over Duration
	// (default "immediate" then "fast").
	Restarts []string
	// WaveEvery is how often a wave of runs is started (default 1.5 s).
	WaveEvery time.Duration
	// Scale multiplies the size of a wave (default 1).
	Scale float64
	// CancelTrees is how many expanding trees are cancelled mid-flight
	// (default 3).
	CancelTrees int
	// FinishWithin bounds the wait for every run after the last fault
	// (default 3 min): a run still unfinished then is a failure.
	FinishWithin time.Duration
	// Dir holds the worker binary and logs (default: a temporary
	// directory, removed afterwards).
	Dir string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 3 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.KillEvery <= 0 {
		o.KillEvery = 1300 * time.Millisecond
	}
	if o.Restarts == nil {
		o.Restarts = []string{"immediate", "fast"}
	}
	if o.WaveEvery <= 0 {
		o.WaveEvery = 1500 * time.Millisecond
	}
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.CancelTrees < 0 {
		o.CancelTrees = 0
	} else if o.CancelTrees == 0 {
		o.CancelTrees = 3
	}
	if o.FinishWithin <= 0 {
		o.FinishWithin = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Report is what a soak found.
type Report struct {
	Runs, RunsCompleted, RunsCancelled int
	// RunsPastDeadline counts the "deadline" runs that ended cancelled by
	// their deadline, as they must.
	RunsPastDeadline int
	StepsCompleted   int
	Kills, Restarts  int
	// DeclaredDead counts workers that exited because they were declared
	// dead (status 3): cut off past the grace, not killed.
	DeclaredDead int
	// Recoveries are, for each attempt lost to a killed worker, the time
	// from the kill to the node's next attempt.
	Recoveries []time.Duration
	// LostNotKilled counts attempts lost to workers that were not killed.
	LostNotKilled int
	// FinishedAfterLastFault is the time from the last fault to the last
	// run's finish.
	FinishedAfterLastFault time.Duration
	// Violations are the guarantees that did not hold; empty is a pass.
	Violations []string
}

// Percentile is the p-th percentile (0-100) of the recoveries.
func (r *Report) Percentile(p float64) time.Duration {
	if len(r.Recoveries) == 0 {
		return 0
	}
	s := slices.Clone(r.Recoveries)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "runs %d (completed %d, cancelled %d, cancelled at their deadline %d), steps completed %d\n",
		r.Runs, r.RunsCompleted, r.RunsCancelled, r.RunsPastDeadline, r.StepsCompleted)
	fmt.Fprintf(&b, "faults: %d kill -9, %d PostgreSQL restarts; %d workers exited declared dead\n", r.Kills, r.Restarts, r.DeclaredDead)
	fmt.Fprintf(&b, "lost attempts of killed workers: %d; ran again after p50 %s, p90 %s, max %s\n",
		len(r.Recoveries), r.Percentile(50).Round(time.Millisecond), r.Percentile(90).Round(time.Millisecond),
		r.Percentile(100).Round(time.Millisecond))
	fmt.Fprintf(&b, "lost attempts of workers not killed: %d\n", r.LostNotKilled)
	fmt.Fprintf(&b, "last run finished %s after the last fault\n", r.FinishedAfterLastFault.Round(time.Millisecond))
	if len(r.Violations) == 0 {
		b.WriteString("violations: none\n")
	}
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "VIOLATION: %s\n", v)
	}
	return b.String()
}

// soak is one run of the harness.
type soak struct {
	o       Options
	cluster *pgcluster.Cluster
	url     string
	binary  string
	pool    *pgxpool.Pool
	client  *flow.Client

	mu        sync.Mutex
	kills     map[int]time.Time // pid -> when it was killed
	exits     []workerExit
	faults    []time.Time
	runs      []int64
	cancelled map[int64]time.Time // top run -> when its cancel returned
	stopping  bool
	procs     map[int]*exec.Cmd // slot -> running process
}

type workerExit struct {
	pid  int
	code int // -1: killed by a signal
}

// Run runs a soak and reports what it found. An error means the harness
// itself could not run (no PostgreSQL, no go toolchain); broken guarantees
// are in the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	s := &soak{o: o, kills: map[int]time.Time{}, cancelled: map[int64]time.Time{}, procs: map[int]*exec.Cmd{}}
	if s.o.Dir == "" {
		dir, err := os.MkdirTemp("", "htdag-soak-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		s.o.Dir = dir
	}
	if err := s.setup(ctx); err != nil {
		return nil, err
	}
	defer s.cluster.Remove()
	defer s.pool.Close()

	workersDone := s.startFleet(ctx)
	defer func() {
		s.stopFleet()
		<-workersDone
	}()
	if err := s.waitFleet(ctx); err != nil {
		return nil, err
	}

	chaosCtx, stopChaos := context.WithTimeout(ctx, s.o.Duration)
	var wg sync.WaitGroup
	wg.Go(func() { s.startWaves(chaosCtx) })
	wg.Go(func() { s.kill(chaosCtx) })
	wg.Go(func() { s.restartPostgres(chaosCtx) })
	wg.Go(func() { s.cancelTrees(chaosCtx) })
	wg.Wait()
	stopChaos()
	s.logf("faults over; waiting for every run to finish")

	report := &Report{}
	s.mu.Lock()
	lastFault := time.Time{}
	for _, f := range s.faults {
		if f.After(lastFault) {
			lastFault = f
		}
	}
	runs := slices.Clone(s.runs)
	s.mu.Unlock()
	waitCtx, cancel := context.WithTimeout(ctx, s.o.FinishWithin)
	defer cancel()
	finished, err := s.client.WaitMany(waitCtx, runs)
	if err != nil {
		report.Violations = append(report.Violations, fmt.Sprintf("runs did not all finish within %s of the end of the faults: %v", s.o.FinishWithin, err))
	}
	var last time.Time
	for _, r := range finished {
		if r.FinishedAt != nil && r.FinishedAt.After(last) {
			last = *r.FinishedAt
		}
	}
	if !lastFault.IsZero() && last.After(lastFault) {
		report.FinishedAfterLastFault = last.Sub(lastFault)
	}
	if err := s.check(ctx, report, finished); err != nil {
		return nil, err
	}
	return report, nil
}

func (s *soak) logf(format string, args ...any) {
	fmt.Fprintf(s.o.Log, "soak %s: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// setup starts the cluster, migrates a database, and builds the worker.
func (s *soak) setup(ctx context.Context) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	s.binary = filepath.Join(s.o.Dir, "worker")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "soak", "-o", s.binary, "./cmd/worker")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the worker with -tags soak: %w\n%s", err, out)
	}
	s.cluster, err = pgcluster.New(pgcluster.Options{Settings: []string{"max_connections = 200", "deadlock_timeout = 1s",
		"log_lock_waits = on"}})
	if err != nil {
		return err
	}
	if err := s.cluster.CreateDatabase(ctx, "soak"); err != nil {
		return err
	}
	s.url = s.cluster.URL("soak")
	cfg, err := pgxpool.ParseConfig(s.url)
	if err != nil {
		return err
	}
	cfg.MaxConns = 8
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return err
	}
	if _, err := migrations.Up(ctx, s.pool, nil); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, soakkinds.SchemaSQL); err != nil {
		return err
	}
	s.client = flow.NewClient(s.pool, nil)
	s.logf("cluster on port %d, worker built", s.cluster.Port)
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("soak: not inside the htdag module")
	}
	return filepath.Dir(mod), nil
}

// startFleet runs o.Workers slots, each restarting its worker whenever it
// exits (killed, or declared dead) until stopFleet; the channel closes when
// every slot has ended.
func (s *soak) startFleet(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for slot := range s.o.Workers {
		wg.Go(func() { s.superviseSlot(ctx, slot) })
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

func (s *soak) superviseSlot(ctx context.Context, slot int) {
	for life := 0; ; life++ {
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		logf, err := os.Create(filepath.Join(s.o.Dir, fmt.Sprintf("worker-%d-%d.log", slot, life)))
		if err != nil {
			s.mu.Unlock()
			s.logf("slot %d: %v", slot, err)
			return
		}
		cmd := exec.Command(s.binary, "--database-url", s.url, "--max-conns", "8", "run", "--max-workers", "50",
			"--shutdown-timeout", "10s")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			s.mu.Unlock()
			logf.Close()
			s.logf("slot %d: starting a worker: %v", slot, err)
			return
		}
		s.procs[slot] = cmd
		s.mu.Unlock()

		err = cmd.Wait()
		logf.Close()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode() // -1 when a signal ended it
		}
		s.mu.Lock()
		delete(s.procs, slot)
		s.exits = append(s.exits, workerExit{pid: cmd.Process.Pid, code: code})
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			return
		}
		// A supervisor (systemd, Docker) restarts it shortly.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(200+rand.IntN(600)) * time.Millisecond):
		}
	}
}

// waitFleet waits until every slot's worker has joined the fleet.
func (s *soak) waitFleet(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		workers, err := s.client.Workers(ctx, true)
		if err == nil && len(workers) >= s.o.Workers {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("soak: the fleet did not start within a minute (%d alive, err %v); logs in %s", len(workers), err, s.o.Dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *soak) stopFleet() {
	s.mu.Lock()
	s.stopping = true
	for _, cmd := range s.procs {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	s.mu.Unlock()
}

// kill sends SIGKILL to a random worker about every KillEvery: one that is
// running nodes when the database says which (a kill of an idle worker
// tests nothing), else any.
func (s *soak) kill(ctx context.Context) {
	for {
		wait := time.Duration(float64(s.o.KillEvery) * (0.5 + rand.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		// Waves leave the fleet idle between them on a fast machine: wait
		// (up to another KillEvery) for a worker that is running nodes.
		var slots []int
		deadline := time.Now().Add(s.o.KillEvery)
		for {
			busy := s.busyPids(ctx)
			s.mu.Lock()
			var all, busySlots []int
			for slot, cmd := range s.procs {
				all = append(all, slot)
				if busy[cmd.Process.Pid] {
					busySlots = append(busySlots, slot)
				}
			}
			slots = busySlots
			if len(slots) > 0 || time.Now().After(deadline) || ctx.Err() != nil {
				if len(slots) == 0 {
					slots = all
				}
				break // holding s.mu
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(25 * time.Millisecond):
			}
		}
		if len(slots) == 0 {
			s.mu.Unlock()
			continue
		}
		cmd := s.procs[slots[rand.IntN(len(slots))]]
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			now := time.Now()
			s.kills[cmd.Process.Pid] = now
			s.faults = append(s.faults, now)
		}
		s.mu.Unlock()
	}
}

// busyPids returns the pids of the live workers running nodes now; none
// while PostgreSQL restarts.
func (s *soak) busyPids(ctx context.Context) map[int]bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rows, err := s.pool.Query(ctx, `
SELECT DISTINCT w.pid FROM flow.worker w
  JOIN public.river_job j ON j.state = 'running' AND j.attempted_by[cardinality(j.attempted_by)] = w.client_id
 WHERE w.dead_at IS NULL AND w.stopped_at IS NULL`)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	busy := map[int]bool{}
	for _, pid := range pids {
		busy[int(pid)] = true
	}
	return busy
}

// restartPostgres restarts the cluster with each mode of o.Restarts, spread
// over the soak.
func (s *soak) restartPostgres(ctx context.Context) {
	start := time.Now()
	for i, mode := range s.o.Restarts {
		at := start.Add(s.o.Duration * time.Duration(i+1) / time.Duration(len(s.o.Restarts)+1))
		if !sleepUntil(ctx, at) {
			return
		}
		s.logf("restarting PostgreSQL (-m %s)", mode)
		if err := s.cluster.Restart(mode); err != nil {
			s.logf("restart failed: %v", err)
			continue
		}
		s.mu.Lock()
		s.faults = append(s.faults, time.Now())
		s.mu.Unlock()
		s.logf("PostgreSQL is back")
	}
}

// startWaves starts a mix of runs every WaveEvery: diamonds, a fan-out, a
// chain, a sub-workflow, a map and an expanding tree, every step sleeping a
// little so that work is in flight when a worker dies.
func (s *soak) startWaves(ctx context.Context) {
	tick := time.NewTicker(s.o.WaveEvery)
	defer tick.Stop()
	for wave := 0; ; wave++ {
		specs := s.wave(wave)
		for i, spec := range specs {
			key := fmt.Sprintf("soak-%d-%d", wave, i)
			spec = strings.Replace(spec, "{", fmt.Sprintf(`{"key": %q, `, key), 1)
			if id, ok := s.start(ctx, spec); ok {
				s.mu.Lock()
				s.runs = append(s.runs, id)
				s.mu.Unlock()
				if strings.Contains(spec, `"name": "approval"`) {
					go s.approve(id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// approve signals the wait node "approve" of run id once it waits (its
// parent has completed), as an outside system would, trying again through
// kills and restarts for up to FinishWithin. A signal that committed but whose
// answer was lost is found already signalled on the next try.
func (s *soak) approve(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Duration+s.o.FinishWithin)
	defer cancel()
	for {
		_, err := s.pool.Exec(ctx, `SELECT flow.signal($1, 'approve', '{"approved": true}')`, id)
		if err == nil || strings.Contains(err.Error(), "already signalled") {
			return
		}
		if ctx.Err() != nil {
			s.logf("run %d: approval never signalled: %v", id, err)
			return
		}
		// Not waiting yet (its parent runs), or PostgreSQL restarting.
		if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return
		}
	}
}

// start starts a run, trying again while PostgreSQL restarts (the spec's
// key makes a retry of a start that did commit return the same run).
func (s *soak) start(ctx context.Context, spec string) (int64, bool) {
	bg := context.WithoutCancel(ctx)
	for range 50 {
		id, err := s.client.Start(bg, flow.JSONSpec(spec))
		if err == nil {
			return id, true
		}
		var specErr *flow.SpecError
		if errors.As(err, &specErr) {
			s.logf("bad spec: %v", err)
			return 0, false
		}
		sleepUntil(bg, time.Now().Add(200*time.Millisecond)) // the server is restarting
	}
	return 0, false
}

// sleepUntil waits until t or until ctx ends; it reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func step(ms int) string { return fmt.Sprintf(`"kind": "soak.step", "args": {"sleep_ms": %d}`, ms) }

func (s *soak) wave(n int) []string {
	scale := func(x int) int { return max(1, int(float64(x)*s.o.Scale)) }
	var specs []string
	for range scale(6) {
		specs = append(specs, fmt.Sprintf(`{"name": "diamond", "nodes": [{"id": "a", %s}, {"id": "b", %s, "deps": ["a"]},
			{"id": "c", %s, "deps": ["a"]}, {"id": "d", %s, "deps": ["a"]}, {"id": "e", %s, "deps": ["b", "c", "d"]}]}`,
			step(20+rand.IntN(100)), step(rand.IntN(200)), step(rand.IntN(200)), step(rand.IntN(200)), step(20)))
	}
	// A fan-out every other wave.
	if n%2 == 0 {
		width := scale(150)
		var b strings.Builder
		fmt.Fprintf(&b, `{"name": "fanout", "nodes": [{"id": "root", %s}`, step(10))
		deps := make([]string, width)
		for i := range width {
			fmt.Fprintf(&b, `, {"id": "w%d", %s, "deps": ["root"]}`, i, step(rand.IntN(300)))
			deps[i] = fmt.Sprintf("%q", fmt.Sprintf("w%d", i))
		}
		fmt.Fprintf(&b, `, {"id": "join", %s, "deps": [%s]}]}`, step(10), strings.Join(deps, ","))
		specs = append(specs, b.String())
	}
	chain := scale(15)
	var b strings.Builder
	b.WriteString(`{"name": "chain", "nodes": [`)
	for i := range chain {
		if i > 0 {
			b.WriteString(", ")
		}
		dep := ""
		if i > 0 {
			dep = fmt.Sprintf(`, "deps": ["c%d"]`, i-1)
		}
		fmt.Fprintf(&b, `{"id": "c%d", %s%s}`, i, step(rand.IntN(80)), dep)
	}
	b.WriteString("]}")
	specs = append(specs, b.String())
	specs = append(specs,
		fmt.Sprintf(`{"name": "subworkflow", "nodes": [{"id": "pre", %s},
			{"id": "sub", "deps": ["pre"], "workflow": {"nodes": [{"id": "x", %s}, {"id": "y", %s, "deps": ["x"]}]}},
			{"id": "post", %s, "deps": ["sub"]}]}`, step(50), step(150), step(100), step(10)),
		fmt.Sprintf(`{"name": "map", "nodes": [{"id": "items", "kind": "soak.items", "args": {"n": %d}},
			{"id": "each", "map": "items", %s}, {"id": "after", %s, "deps": ["each"]}]}`, scale(12), step(150), step(10)),
		`{"name": "expand", "nodes": [{"id": "tree", "kind": "soak.expand", "args": {"width": 3, "depth": 2, "sleep_ms": 100}}]}`,
		// A slow node keeps some worker busy between waves, so that kills
		// find running work to lose.
		fmt.Sprintf(`{"name": "slow", "nodes": [{"id": "slow", %s}]}`, step(1000+rand.IntN(1500))),
		// A wait node, signalled from outside once it waits (approve).
		fmt.Sprintf(`{"name": "approval", "nodes": [{"id": "build", %s}, {"id": "approve", "wait": {}, "deps": ["build"]},
			{"id": "ship", %s, "deps": ["approve"]}]}`, step(rand.IntN(200)), step(rand.IntN(100))),
		// Concurrency keys under faults: every wave's nodes share 3 slots of
		// one key, so nodes wait and are admitted by completions, cancels and
		// rescues; a slot leaked or lost shows in flow.check.
		keyedSpec(scale(20)),
	)
	// A run deadline under faults, every third wave: it passes while its
	// node sleeps, and the run must end cancelled by it.
	if n%3 == 0 {
		specs = append(specs, fmt.Sprintf(`{"name": "deadline", "timeout_ms": 1500, "nodes": [{"id": "long", %s},
			{"id": "after", %s, "deps": ["long"]}]}`, step(8000), step(10)))
	}
	return specs
}

// keyedSpec is a run of n steps that all take a slot of the key "soak",
// limit 3.
func keyedSpec(n int) string {
	var b strings.Builder
	b.WriteString(`{"name": "keyed", "concurrency": {"key": "soak", "limit": 3}, "nodes": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"id": "k%d", %s}`, i, step(rand.IntN(150)))
	}
	b.WriteString("]}")
	return b.String()
}

// cancelTrees starts deep expanding trees in the middle of the soak and
// cancels each once it has grown a few child runs.
func (s *soak) cancelTrees(ctx context.Context) {
	start := time.Now()
	for i := range s.o.CancelTrees {
		// Spread over the first four fifths, so that the trees' cancels
		// happen under faults.
		at := start.Add(s.o.Duration * 4 / 5 * time.Duration(2*i+1) / time.Duration(2*s.o.CancelTrees+1))
		if !sleepUntil(ctx, at) {
			return
		}
		id, ok := s.start(ctx, fmt.Sprintf(`{"key": "soak-cancel-%d", "name": "cancelled tree",
			"nodes": [{"id": "tree", "kind": "soak.expand", "args": {"width": 4, "depth": 4, "sleep_ms": 300}}]}`, i))
		if !ok {
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var n int
			if s.pool.QueryRow(ctx, "SELECT count(*) FROM flow.run WHERE root_run_id = $1", id).Scan(&n) == nil && n >= 6 {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		for range 50 {
			_, err := s.client.Cancel(context.WithoutCancel(ctx), id)
			if err == nil {
				break
			}
			sleepUntil(context.WithoutCancel(ctx), time.Now().Add(200*time.Millisecond)) // PostgreSQL restarting
		}
		s.mu.Lock()
		s.cancelled[id] = time.Now()
		s.runs = append(s.runs, id)
		s.mu.Unlock()
		s.logf("cancelled expanding tree %d", id)
	}
}

var lostPID = regexp.MustCompile(`pid (\d+)\) died while running this attempt`)

// check verifies the guarantees and measures the recoveries.
func (s *soak) check(ctx context.Context, r *Report, runs []*flow.Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Kills = len(s.kills)
	r.Restarts = len(s.o.Restarts)
	for _, e := range s.exits {
		if e.code == flow.ExitCodeDeclaredDead {
			r.DeclaredDead++
		}
	}
	r.Runs = len(s.runs)
	for _, run := range runs {
		_, wasCancelled := s.cancelled[run.ID]
		switch {
		case run.State == flow.RunStateCompleted && run.Name != "deadline":
			r.RunsCompleted++
		case run.Name == "deadline" && run.State == flow.RunStateCancelled && strings.Contains(run.CancelReason, "passed its deadline"):
			r.RunsPastDeadline++
		case run.State == flow.RunStateCancelled && wasCancelled:
			r.RunsCancelled++
		default:
			r.Violations = append(r.Violations, fmt.Sprintf("run %d (%s) ended %s", run.ID, run.Name, run.State))
		}
	}

	// Guarantees, one query each: a count that must be zero.
	zero := []struct{ what, sql string }{
		{"completed steps without their effect (lost)", `
			SELECT count(*) FROM river_job j WHERE j.kind = 'soak.step' AND j.state = 'completed'
			   AND NOT EXISTS (SELECT 1 FROM soak.effect e WHERE e.job_id = j.id)`},
		{"effects of steps that did not complete (phantom)", `
			SELECT count(*) FROM soak.effect e LEFT JOIN river_job j ON j.id = e.job_id WHERE j.state IS DISTINCT FROM 'completed'`},
		{"effects committed by another attempt than the one that completed the step", `
			SELECT count(*) FROM soak.effect e JOIN river_job j ON j.id = e.job_id WHERE e.attempt <> j.attempt`},
		{"attempts that tried to write an effect twice (duplicate key)", `
			SELECT count(*) FROM river_job j, unnest(j.errors) err WHERE err ->> 'error' LIKE '%duplicate key%'`},
		{"steps that completed before a parent did (early)", `SELECT count(*) FROM soak.effect WHERE early_parents > 0`},
		{"attempts started before a parent completed (early)", `
			SELECT count(*) FROM soak.attempt a JOIN flow.node n ON n.job_id = a.job_id
			  JOIN river_job p ON p.id = ANY (n.parents)
			 WHERE p.finalized_at IS NULL OR a.started_at < p.finalized_at`},
		{"discarded nodes", `SELECT count(*) FROM river_job WHERE state = 'discarded'`},
		{"deadlocks recorded as an attempt's error", `
			SELECT count(*) FROM river_job j, unnest(j.errors) err WHERE err ->> 'error' LIKE '%deadlock%'`},
		{"nodes of cancelled trees completed after the cancel returned", `
			SELECT count(*) FROM soak.effect e JOIN flow.run r ON r.id = e.run_id
			  JOIN unnest($1::bigint[], $2::timestamptz[]) AS c(top, at) ON (r.id = c.top OR r.root_run_id = c.top)
			 WHERE e.at > c.at`},
		{"problems flow.check (worker doctor) reports", `SELECT count(*) FROM flow.check(NULL)`},
	}
	var tops []int64
	var ats []time.Time
	for id, at := range s.cancelled {
		tops = append(tops, id)
		ats = append(ats, at)
	}
	for _, z := range zero {
		var n int
		var args []any
		if strings.Contains(z.sql, "$1") {
			args = []any{tops, ats}
		}
		if err := s.pool.QueryRow(ctx, z.sql, args...).Scan(&n); err != nil {
			return fmt.Errorf("soak check %q: %w", z.what, err)
		}
		if n != 0 {
			r.Violations = append(r.Violations, fmt.Sprintf("%d %s", n, z.what))
		}
	}
	if log := s.cluster.Log(); strings.Contains(log, "deadlock detected") {
		r.Violations = append(r.Violations, "PostgreSQL's log reports a deadlock:\n"+deadlockReport(log))
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM soak.effect`).Scan(&r.StepsCompleted); err != nil {
		return err
	}

	// Recoveries: each attempt lost to a dead worker, from the kill to the
	// node's next attempt.
	rows, err := s.pool.Query(ctx, `
		SELECT (err ->> 'error'),
		       (SELECT min(a.started_at) FROM soak.attempt a WHERE a.job_id = j.id AND a.attempt > (err ->> 'attempt')::int)
		  FROM river_job j, unnest(j.errors) err
		 WHERE err ->> 'error' LIKE 'htdag: worker % died while running this attempt%'`)
	if err != nil {
		return err
	}
	var (
		msg  string
		next *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&msg, &next}, func() error {
		m := lostPID.FindStringSubmatch(msg)
		if m == nil {
			return nil
		}
		pid, _ := strconv.Atoi(m[1])
		killedAt, killed := s.kills[pid]
		switch {
		case !killed:
			r.LostNotKilled++
		case next == nil && strings.Contains(msg, "its cancel was asked for"):
			// Cancelled by the rescue, as asked: it is not to run again.
		case next == nil:
			r.Violations = append(r.Violations, "a node lost with its killed worker never ran again: "+msg)
		default:
			r.Recoveries = append(r.Recoveries, next.Sub(killedAt))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range s.logFiles() {
		if bad := grepFile(name, "deadlock detected"); bad != "" {
			r.Violations = append(r.Violations, fmt.Sprintf("%s: %s", filepath.Base(name), bad))
		}
	}
	return nil
}

func (s *soak) logFiles() []string {
	names, _ := filepath.Glob(filepath.Join(s.o.Dir, "worker-*.log"))
	return names
}

// deadlockReport returns the log lines of the first deadlock PostgreSQL
// reported: the error, its DETAIL (who waited for what), CONTEXT and
// STATEMENT, so a failed soak says which statements collided.
func deadlockReport(log string) string {
	lines := strings.Split(log, "\n")
	for i, line := range lines {
		if !strings.Contains(line, "deadlock detected") {
			continue
		}
		end := min(i+1, len(lines))
		for end < len(lines) && end < i+40 && !strings.Contains(lines[end], "ERROR:") && !strings.Contains(lines[end], "LOG:") {
			end++
		}
		return strings.Join(lines[i:end], "\n")
	}
	return ""
}

// grepFile returns the first line of name containing text.
func grepFile(name, text string) string {
	f, err := os.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), text) {
			return sc.Text()
		}
	}
	return ""
}
