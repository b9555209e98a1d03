package fleettest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/htdag/htdag/internal/pgbouncer"
)

// snapshot is what the harness reads before and after a shape.
type snapshot struct {
	lsn                  string
	xid                  int64 // next transaction id: write transactions so far
	serverCPU, workerCPU time.Duration
	inserts, finishes    int64         // notifications heard
	own                  int64         // wake-ups on workers' own channels heard
	pooledXacts          int64         // transactions PgBouncer served
	poolerWait           time.Duration // clients' total wait for a server connection
}

func (f *fleet) snapshot(ctx context.Context) (snapshot, error) {
	var s snapshot
	err := f.admin.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text, pg_snapshot_xmax(pg_current_snapshot())::text::bigint").
		Scan(&s.lsn, &s.xid)
	if err != nil {
		return s, fmt.Errorf("reading WAL position and transaction id: %w", err)
	}
	if s.serverCPU, err = serverCPU(f.pm); err != nil {
		return s, fmt.Errorf("reading the server's CPU time: %w", err)
	}
	f.mu.Lock()
	pids := make([]int, len(f.procs))
	for i, p := range f.procs {
		pids[i] = p.pid
	}
	f.mu.Unlock()
	s.workerCPU = processesCPU(pids)
	if s.inserts, s.finishes, s.own, err = f.notes.sync(ctx, f.admin); err != nil {
		return s, err
	}
	s.pooledXacts, s.poolerWait = f.poolerStats(ctx)
	return s, nil
}

// idleWindow is how long measureIdle watches a fleet with nothing to do.
const idleWindow = 5 * time.Second

// measureIdle measures what a fleet of n costs with nothing to do (its
// heartbeats, rescues, polls and River's own upkeep), over idleWindow.
func (f *fleet) measureIdle(ctx context.Context, n int) (IdleResult, error) {
	r := IdleResult{Processes: n, Window: idleWindow}
	f.resetStatements(ctx, n)
	defer f.logStatements(ctx, "the idle fleet", n)
	before, err := f.snapshot(ctx)
	if err != nil {
		return r, err
	}
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(idleWindow): // a measurement window, not a wait for something
	}
	after, err := f.snapshot(ctx)
	if err != nil {
		return r, err
	}
	sec := idleWindow.Seconds()
	r.ServerCores = (after.serverCPU - before.serverCPU).Seconds() / sec
	r.WorkerCores = (after.workerCPU - before.workerCPU).Seconds() / sec
	r.PooledXactsPerSec = float64(after.pooledXacts-before.pooledXacts) / sec
	r.WriteXactsPerSec = float64(after.xid-before.xid) / sec
	var wal int64
	if err := f.admin.QueryRow(ctx, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint", after.lsn, before.lsn).Scan(&wal); err != nil {
		return r, err
	}
	r.WALBytesPerSec = float64(wal) / sec
	f.logf("idle     %2d processes: PostgreSQL %.2f cores, workers %.2f cores, %.0f pooled transactions/s",
		n, r.ServerCores, r.WorkerCores, r.PooledXactsPerSec)
	return r, nil
}

// poolerStats reads PgBouncer's transaction count and total client wait
// for the database from its admin console (zeros when it cannot).
func (f *fleet) poolerStats(ctx context.Context) (int64, time.Duration) {
	conn, err := pgx.Connect(ctx, f.bouncer.AdminURL())
	if err != nil {
		return 0, 0
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SHOW STATS")
	if err != nil {
		return 0, 0
	}
	defer rows.Close()
	col := map[string]int{}
	for i, fd := range rows.FieldDescriptions() {
		col[fd.Name] = i
	}
	for rows.Next() {
		v, err := rows.Values()
		if err != nil || fmt.Sprint(v[col["database"]]) != pgbouncer.DatabaseName {
			continue
		}
		num := func(name string) int64 {
			i, ok := col[name]
			if !ok {
				return 0
			}
			switch x := v[i].(type) {
			case pgtype.Numeric: // PgBouncer's counters are numeric
				n, _ := x.Int64Value()
				return n.Int64
			case int64:
				return x
			}
			return 0
		}
		return num("total_xact_count"), time.Duration(num("total_wait_time")) * time.Microsecond
	}
	return 0, 0
}

// notifyCounter counts the wake-ups (River's insert channel, and the
// workers' own channels public.htdag_wake_<id> that flow.notify_runnable
// wakes chosen workers on) and run finishes the database announces, on a
// direct connection of its own.
// Transactions that send the same notification several times are heard
// once, so a count is of transactions that notified.
type notifyCounter struct {
	inserts, finishes atomic.Int64
	own               atomic.Int64
	marks             chan string
	cancel            context.CancelFunc
	done              chan struct{}
	seq               int
}

const markChannel = "fleettest_mark"

// ownChannels is how many workers' own wake-up channels the counter hears.
const ownChannels = 1000

func startNotifyCounter(ctx context.Context, cfg *pgx.ConnConfig) (*notifyCounter, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	for _, ch := range []string{"public.river_insert", "flow_run_finished", markChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			_ = conn.Close(ctx)
			return nil, err
		}
	}
	// The workers' own channels: worker ids on the harness's new cluster
	// stay far below this (each step registers its processes anew).
	var own strings.Builder
	for id := 1; id <= ownChannels; id++ {
		fmt.Fprintf(&own, "LISTEN %s;", pgx.Identifier{"public.htdag_wake_" + strconv.Itoa(id)}.Sanitize())
	}
	if _, err := conn.Exec(ctx, own.String()); err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &notifyCounter{marks: make(chan string, 16), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer conn.Close(context.Background())
		for {
			n, err := conn.WaitForNotification(loopCtx)
			if err != nil {
				return
			}
			switch n.Channel {
			case "public.river_insert":
				c.inserts.Add(1)
			case "flow_run_finished":
				c.finishes.Add(1)
			case markChannel:
				c.marks <- n.Payload
			default:
				if strings.HasPrefix(n.Channel, "public.htdag_wake_") {
					c.own.Add(1)
				}
			}
		}
	}()
	return c, nil
}

// sync returns the counts once every notification committed so far has
// been heard: it sends a mark and waits for it (a listener hears
// notifications in commit order).
func (c *notifyCounter) sync(ctx context.Context, admin *pgx.Conn) (inserts, finishes, own int64, err error) {
	c.seq++
	mark := strconv.Itoa(c.seq)
	if _, err := admin.Exec(ctx, "SELECT pg_notify($1, $2)", markChannel, mark); err != nil {
		return 0, 0, 0, err
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case got := <-c.marks:
			if got == mark {
				return c.inserts.Load(), c.finishes.Load(), c.own.Load(), nil
			}
		case <-c.done:
			return 0, 0, 0, fmt.Errorf("the notification counter's connection ended")
		case <-timeout:
			return 0, 0, 0, fmt.Errorf("the notification counter did not hear its mark within 30 s")
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		}
	}
}

func (c *notifyCounter) stop() {
	c.cancel()
	<-c.done
}

// backendSampler records the most client backends PostgreSQL had at once,
// sampled every 100 ms on a direct connection of its own.
type backendSampler struct {
	peak   atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

func startBackendSampler(ctx context.Context, cfg *pgx.ConnConfig) (*backendSampler, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &backendSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer conn.Close(context.Background())
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			var n int64
			if err := conn.QueryRow(loopCtx, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").Scan(&n); err == nil {
				if n > s.peak.Load() {
					s.peak.Store(n)
				}
			}
			select {
			case <-loopCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s, nil
}

func (s *backendSampler) stop() {
	s.cancel()
	<-s.done
}

// notifyClients and notifyDuration size measureNotify.
const (
	notifyClients  = 8
	notifyDuration = 3 * time.Second
)

// measureNotify measures, on the server alone, how many one-row INSERT
// transactions per second notifyClients sessions commit, and how many when
// each also calls pg_notify: such a transaction holds a cluster-wide lock
// from before its commit record until the record is flushed, so they
// commit one at a time.
func measureNotify(ctx context.Context, url string) (NotifyResult, error) {
	res := NotifyResult{Clients: notifyClients, Duration: notifyDuration}
	conns := make([]*pgx.Conn, notifyClients)
	for i := range conns {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return res, err
		}
		defer conn.Close(ctx)
		conns[i] = conn
	}
	if _, err := conns[0].Exec(ctx, "CREATE TABLE fleettest_commit (x int)"); err != nil {
		return res, err
	}
	defer func() { _, _ = conns[0].Exec(ctx, "DROP TABLE fleettest_commit") }()
	rate := func(sql string) (float64, error) {
		var (
			total    atomic.Int64
			wg       sync.WaitGroup
			firstErr atomic.Value
		)
		start := time.Now()
		deadline := start.Add(notifyDuration)
		for _, conn := range conns {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if _, err := conn.Exec(ctx, sql); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					total.Add(1)
				}
			})
		}
		wg.Wait()
		if err, ok := firstErr.Load().(error); ok {
			return 0, err
		}
		return float64(total.Load()) / time.Since(start).Seconds(), nil
	}
	var err error
	if res.PlainCommitsPerSec, err = rate("INSERT INTO fleettest_commit VALUES (1)"); err != nil {
		return res, err
	}
	if res.NotifyCommitsPerSec, err = rate("INSERT INTO fleettest_commit VALUES (1); SELECT pg_notify('fleettest_probe', 'x')"); err != nil {
		return res, err
	}
	return res, nil
}

// machine describes the machine and the servers: CPU, cores, memory, load,
// PostgreSQL, PgBouncer and Go versions.
func machine(ctx context.Context, admin *pgx.Conn) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64); err == nil {
					mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(b))[:3], " ") + " at start"
	}
	var pg string
	if err := admin.QueryRow(ctx, "SHOW server_version").Scan(&pg); err != nil {
		pg = "?"
	}
	bouncer := "?"
	if prog, err := pgbouncer.Program(); err == nil {
		if out, err := exec.CommandContext(ctx, prog, "--version").Output(); err == nil {
			bouncer = strings.TrimPrefix(strings.SplitN(string(out), "\n", 2)[0], "PgBouncer ")
		}
	}
	return fmt.Sprintf("%s, %d cores%s%s; PostgreSQL %s; PgBouncer %s; %s", cpu, runtime.NumCPU(), mem, load, pg, bouncer, runtime.Version())
}

// resetStatements starts a statement profile (Options.Statements) of what
// follows, for one direct worker and the full fleet.
func (f *fleet) resetStatements(ctx context.Context, processes int) {
	if f.o.Statements <= 0 || processes != f.o.Processes && processes != 1 {
		return
	}
	if _, err := f.admin.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		f.logf("resetting pg_stat_statements: %v", err)
	}
}

// logStatements logs the statements that took most of the server's time
// since resetStatements.
func (f *fleet) logStatements(ctx context.Context, what string, processes int) {
	if f.o.Statements <= 0 || processes != f.o.Processes && processes != 1 {
		return
	}
	rows, err := f.admin.Query(ctx, `
		SELECT calls, total_exec_time + total_plan_time, rows, regexp_replace(left(query, 110), '\s+', ' ', 'g')
		  FROM pg_stat_statements
		 WHERE query NOT LIKE '%pg_stat_statements%'
		 ORDER BY 2 DESC LIMIT $1`, f.o.Statements)
	if err != nil {
		f.logf("reading pg_stat_statements: %v", err)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "statements of %s, %d processes (calls, total ms, rows, query):", what, processes)
	var (
		calls, nrows int64
		ms           float64
		query        string
	)
	_, err = pgx.ForEachRow(rows, []any{&calls, &ms, &nrows, &query}, func() error {
		fmt.Fprintf(&b, "\n  %8d %10.1f %8d  %s", calls, ms, nrows, query)
		return nil
	})
	if err != nil {
		f.logf("reading pg_stat_statements: %v", err)
		return
	}
	f.logf("%s", b.String())
}
