package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/ingest"
	"github.com/htdag/htdag/jobs"
)

// hardStopTimeout bounds the wait for cancelled jobs to return after the
// grace period ran out; a job that ignores its context must not keep the
// process alive forever (River will rescue it later as a stuck job).
const hardStopTimeout = 10 * time.Second

// runOptions are `worker run`'s flags.
type runOptions struct {
	queues            []string
	maxWorkers        int
	fetchCooldown     time.Duration
	fetchPollInterval time.Duration
	shutdownTimeout   time.Duration
	runRetention      time.Duration
	retentionFailed   time.Duration
	jobTimeout        time.Duration
	httpAddr          string
	stuckAfter        time.Duration
	wakeAll           bool
}

func (a *app) runCommand() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Work flow nodes (River jobs) until SIGINT/SIGTERM",
		Long: `run works flow nodes with the built-in kinds (noop, sleep, echo, fail) and
the code-ingestion workflow's (ingest.*, see worker ingest).

Its connections: a pool of --max-conns on --database-url, and one connection
on --direct-database-url (default: the same URL) for River's LISTEN and the
liveness lock. --database-url may go through a transaction-mode pooler such as
PgBouncer when --direct-database-url reaches PostgreSQL directly; a direct URL
that goes through such a pooler is refused at start (a LISTEN on it would hear
nothing).

It joins the fleet (flow.workers) before it fetches anything: it holds a
liveness lock on its direct connection, and with every other worker it
sends the running nodes of a worker that died back to be worked, within
seconds. If it finds that it was itself declared dead (cut off from the
database for longer than the grace), it exits at once with status 3.

A release wakes as many workers as its jobs need (by their free slots at
their last heartbeat), plus one, not every idle worker of the queue;
--wake-all turns that off.

On SIGINT or SIGTERM it stops fetching and lets running jobs finish for up to
--shutdown-timeout; jobs still running then are cancelled and left for River
to retry. A second signal skips the rest of the grace period (one that comes
within a second of the first, as when a process group is signalled twice,
does not).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.run(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.queues, "queue", nil,
		fmt.Sprintf("queue to work as NAME=MAXWORKERS; repeatable (default %s=%d)", river.QueueDefault, flow.DefaultMaxWorkers))
	f.IntVar(&o.maxWorkers, "max-workers", flow.DefaultMaxWorkers,
		"jobs worked at once on the default queue (adds it when --queue names other queues)")
	f.DurationVar(&o.fetchCooldown, "fetch-cooldown", flow.DefaultFetchCooldown, "least time between two fetches of a queue")
	f.DurationVar(&o.fetchPollInterval, "fetch-poll-interval", flow.DefaultFetchPollInterval, "fetch this often even without a wake-up")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "grace period for running jobs on shutdown before they are cancelled")
	f.DurationVar(&o.runRetention, "run-retention", 24*time.Hour, "delete whole completed runs this long after they finished, every minute (0: keep forever)")
	f.DurationVar(&o.retentionFailed, "run-retention-failed", defaultRetentionFailed,
		"delete whole failed or cancelled runs this long after they finished (0: keep forever; default: the longer of 168h and --run-retention, or 0 when --run-retention is 0)")
	f.StringVar(&o.httpAddr, "http-addr", "", "serve /healthz, /readyz, /metrics, /riverui/ and /runs/ on this address, e.g. 127.0.0.1:8080 (off when empty)")
	f.DurationVar(&o.jobTimeout, "job-timeout", flow.DefaultJobTimeout, "bound on an attempt of a node without timeout_ms (and of any other job); 0: none")
	f.DurationVar(&o.stuckAfter, "stuck-after", time.Hour, "River rescues a job running this long as stuck (an attempt error); keep it above the longest node timeout")
	f.BoolVar(&o.wakeAll, "wake-all", false, "every release wakes every idle worker of its queue (default: as many as its jobs need, plus one)")
	return cmd
}

// queueConfig works out the queues from the flags: --queue entries when
// given, else the default queue; --max-workers sizes the default queue.
func (o *runOptions) queueConfig(maxWorkersSet bool) (map[string]river.QueueConfig, error) {
	queues := map[string]river.QueueConfig{}
	for _, q := range o.queues {
		name, n, ok := strings.Cut(q, "=")
		name = strings.TrimSpace(name)
		workers, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || name == "" || err != nil || workers < 1 {
			return nil, fmt.Errorf("--queue %q: want NAME=MAXWORKERS with MAXWORKERS at least 1", q)
		}
		if _, dup := queues[name]; dup {
			return nil, fmt.Errorf("--queue %q: queue %s given twice", q, name)
		}
		queues[name] = river.QueueConfig{MaxWorkers: workers}
	}
	if o.maxWorkers < 1 {
		return nil, fmt.Errorf("--max-workers must be at least 1, got %d", o.maxWorkers)
	}
	if _, named := queues[river.QueueDefault]; named && maxWorkersSet {
		return nil, fmt.Errorf("--max-workers and --queue %s=N both size the default queue; give one", river.QueueDefault)
	}
	if len(queues) == 0 || maxWorkersSet {
		queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: o.maxWorkers}
	}
	return queues, nil
}

func (a *app) run(cmd *cobra.Command, o *runOptions) error {
	// Flags first: a mistake there should not need a database to report.
	queues, err := o.queueConfig(cmd.Flags().Changed("max-workers"))
	if err != nil {
		return usageError(cmd, err)
	}
	if o.shutdownTimeout < 0 {
		return usageError(cmd, fmt.Errorf("--shutdown-timeout must not be negative"))
	}
	if o.runRetention < 0 || o.retentionFailed < 0 {
		return usageError(cmd, fmt.Errorf("--run-retention and --run-retention-failed must not be negative"))
	}
	retention := o.retention(cmd.Flags().Changed("run-retention-failed"))
	if o.jobTimeout < 0 {
		return usageError(cmd, fmt.Errorf("--job-timeout must not be negative"))
	}
	if o.stuckAfter < max(o.jobTimeout, time.Second) {
		return usageError(cmd, fmt.Errorf("--stuck-after (%s) must be at least --job-timeout (%s) and a second", o.stuckAfter, o.jobTimeout))
	}

	// ctx ends at the first signal. River must not see that: cancelling the
	// context given to Start cancels running jobs at once, while we want them
	// to finish within the grace period. So River and the pool get a context
	// without the cancellation, and shutdown is driven from here.
	ctx := cmd.Context()
	bg := context.WithoutCancel(ctx)

	directCfg, err := a.directConnConfig()
	if err != nil {
		return usageError(cmd, err)
	}
	pool, err := a.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The one direct connection: River's LISTEN and the liveness lock. It
	// closes after River stopped and the fleet was left (defers run last
	// first).
	session := flow.NewDirectSession(directCfg)
	defer session.Close(bg)

	workers := river.NewWorkers()
	jobs.Register(workers)
	ingest.Register(workers, pool)
	kinds := append([]string{jobs.NoopArgs{}.Kind(), jobs.SleepArgs{}.Kind(), jobs.EchoArgs{}.Kind(), jobs.FailArgs{}.Kind()}, ingest.Kinds()...)
	for _, k := range extraKinds {
		k.register(workers, pool)
		kinds = append(kinds, k.kinds...)
	}
	config := flow.RiverConfig(pool, workers)
	config.Queues = queues
	config.FetchCooldown = o.fetchCooldown
	config.FetchPollInterval = o.fetchPollInterval
	config.RescueStuckJobsAfter = o.stuckAfter
	config.Logger = a.slog
	flow.MiddlewareOf(config).JobTimeout = o.jobTimeout

	tracing, err := a.installTracing(ctx, config, pool)
	if err != nil {
		return err
	}
	defer tracing.stop()
	client, err := river.NewClient(flow.NewDriver(pool, &flow.DriverOptions{Session: session, Logger: a.slog}), config)
	if err != nil {
		return fmt.Errorf("configuring River: %w", err)
	}
	// Join the fleet before fetching anything: a node this worker fetches
	// must name a registered, live worker.
	fleet, err := flow.JoinFleet(ctx, pool, config, &flow.FleetConfig{Session: session, Logger: a.slog, WakeAll: o.wakeAll})
	if err != nil {
		return migrateHint(err)
	}
	defer func() {
		if err := fleet.Leave(bg); err != nil {
			a.log.Warn().Err(err).Msg("leaving the fleet")
		}
	}()
	ops, err := a.listenOps(o.httpAddr)
	if err != nil {
		return usageError(cmd, err)
	}
	defer ops.stop()
	if err := client.Start(bg); err != nil {
		return fmt.Errorf("starting River: %w", migrateHint(err))
	}
	if ops != nil {
		if err := ops.serve(a, pool, client, config); err != nil {
			return err
		}
	}
	tracing.start()

	queueDict := zerolog.Dict()
	names := make([]string, 0, len(queues))
	for name := range queues {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		queueDict.Int(name, queues[name].MaxWorkers)
	}
	a.log.Info().
		Str("database", redactURL(a.databaseURL)).
		Str("direct_database", redactURL(a.directURL())).
		Int32("max_conns", a.maxConns).
		Dict("queues", queueDict).
		Stringer("fetch_cooldown", o.fetchCooldown).
		Stringer("fetch_poll_interval", o.fetchPollInterval).
		Stringer("shutdown_timeout", o.shutdownTimeout).
		Stringer("run_retention", retention.Completed).
		Stringer("run_retention_failed", retention.Failed).
		Str("http_addr", ops.addr()).
		Stringer("tracing", tracing).
		Stringer("job_timeout", o.jobTimeout).
		Int64("worker_id", fleet.ID()).
		Str("client_id", fleet.ClientID()).
		Strs("kinds", kinds).
		Int("pid", os.Getpid()).
		Msg("worker started")

	go a.deleteFinished(ctx, flow.NewClient(pool, nil), retention)

	select {
	case <-ctx.Done():
	case <-client.Stopped():
		return errors.New("river client stopped unexpectedly")
	}
	return a.shutdown(client, o.shutdownTimeout, time.Now())
}

// kindSet is node kinds a build adds to `worker run` (the soak's, with -tags
// soak).
type kindSet struct {
	register func(*river.Workers, *pgxpool.Pool)
	kinds    []string
}

// extraKinds are the kinds this build adds beyond the built-in ones.
var extraKinds []kindSet

// secondSignalIgnoredWithin: a signal this soon after the first is the same
// request delivered twice, not a second one.
const secondSignalIgnoredWithin = time.Second

// runRetentionInterval is how often `worker run` deletes expired runs.
const runRetentionInterval = time.Minute

// defaultRetentionFailed is how long failed and cancelled runs are kept by
// default: River's own retention for discarded jobs.
const defaultRetentionFailed = 7 * 24 * time.Hour

// retention is the flags' retention by state. Unless given, the failed
// runs' retention is the longer of its default and --run-retention, and
// 0 (keep) when --run-retention keeps everything.
func (o *runOptions) retention(failedSet bool) flow.Retention {
	keep := flow.Retention{Completed: o.runRetention, Failed: o.retentionFailed}
	if !failedSet {
		keep.Failed = max(defaultRetentionFailed, o.runRetention)
		if o.runRetention == 0 {
			keep.Failed = 0
		}
	}
	return keep
}

// deleteFinished deletes whole finished runs older than their state's
// retention (none where it is 0) and finished plain River jobs past River's
// retention, at once and then every runRetentionInterval, until ctx ends.
// Several workers may do so at once: each skips what another is deleting.
func (a *app) deleteFinished(ctx context.Context, client *flow.Client, keep flow.Retention) {
	ticker := time.NewTicker(runRetentionInterval)
	defer ticker.Stop()
	for {
		if keep.Completed > 0 || keep.Failed > 0 {
			n, err := client.DeleteFinishedRunsByState(ctx, keep, 100)
			switch {
			case err != nil && ctx.Err() == nil:
				a.log.Warn().Err(err).Msg("deleting finished runs")
			case n > 0:
				a.log.Info().Int("runs", n).Stringer("completed_older_than", keep.Completed).Stringer("failed_older_than", keep.Failed).Msg("deleted finished runs")
			}
		}
		// River's cleaner is off (flow.RiverConfig): plain River jobs are
		// cleaned here, with River's retention periods.
		n, err := client.DeleteFinishedJobs(ctx, flow.DefaultJobRetention, 0)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn().Err(err).Msg("deleting finished River jobs")
		case n > 0:
			a.log.Info().Int("jobs", n).Msg("deleted finished River jobs")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// shutdown stops the client: first gracefully (no new fetches, running jobs
// finish) for up to grace, then by cancelling running jobs so that River
// records them as errored and retries them later, elsewhere.
func (a *app) shutdown(client *river.Client[pgx.Tx], grace time.Duration, first time.Time) error {
	// A second signal ends the grace period early, unless it comes so soon
	// after the first that it is the same event delivered twice (a process
	// group signalled, then each process in it).
	again := make(chan os.Signal, 4)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)

	a.log.Info().Stringer("grace", grace).Msg("shutting down: waiting for running jobs")
	stopCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	go func() {
		for {
			select {
			case sig := <-again:
				if time.Since(first) < secondSignalIgnoredWithin {
					a.log.Info().Str("signal", sig.String()).Msg("signal repeated within a second of the first: still waiting for running jobs")
					continue
				}
				a.log.Warn().Str("signal", sig.String()).Msg("second signal: cancelling running jobs")
				cancel()
				return
			case <-stopCtx.Done():
				return
			}
		}
	}()
	if err := client.Stop(stopCtx); err == nil {
		a.log.Info().Msg("worker stopped")
		return nil
	}

	a.log.Warn().Msg("grace period over: cancelling running jobs, River will retry them")
	hardCtx, hardCancel := context.WithTimeout(context.Background(), hardStopTimeout)
	defer hardCancel()
	if err := client.StopAndCancel(hardCtx); err != nil {
		return fmt.Errorf("jobs still running %s after cancellation; exiting anyway: %w", hardStopTimeout, err)
	}
	a.log.Info().Msg("worker stopped (running jobs cancelled)")
	return nil
}
