package flow

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// River settings chosen for low step latency. River's own defaults are a
// 100 ms fetch cooldown and a 1 s poll; htdag wakes producers with NOTIFY on
// every release, so a short cooldown turns a wake-up into a fetch at once and
// the poll is only a fallback.
const (
	// DefaultFetchCooldown is the least time between two fetches of one
	// producer (River's minimum is 1 ms).
	DefaultFetchCooldown = 1 * time.Millisecond
	// DefaultFetchPollInterval is how often a producer fetches without a
	// wake-up.
	DefaultFetchPollInterval = 1 * time.Second
	// DefaultMaxWorkers is the number of jobs one process works at once per
	// queue.
	DefaultMaxWorkers = 500
)

// RiverConfig returns a river.Config for working flow nodes on pool: the
// "default" queue with [DefaultMaxWorkers], htdag's fetch settings
// ([DefaultFetchCooldown], [DefaultFetchPollInterval]), the flow
// [Middleware] installed, and workers with flow's own kinds added: the
// [StartWorker] for flow.start jobs, the [WaitWorker] for wait nodes'
// timeouts and the [DeadlineWorker] for runs' deadlines (each kept if
// workers already has a worker for its kind). A nil workers is a new
// river.Workers holding only those.
//
// It also sets what a fleet needs: a unique client ID (the fleet knows a
// running job's worker by it; see [JoinFleet]), River's job timeout off with
// the middleware's JobTimeout ([DefaultJobTimeout]) bounding attempts instead
// (so that a node's "timeout_ms" may be longer than a minute), a retry
// policy that does not count attempts lost to a dead worker ([RetryPolicy]),
// and River's cleaner off (its retention periods -1): it stalls on the flow
// jobs that runs keep whole; [Client.DeleteFinishedJobs] cleans plain jobs
// instead (`worker run` does, every minute). Adjust the fields before
// river.NewClient.
//
// Building a river.Config by hand instead, install [NewMiddleware]'s
// middleware and add river.AddWorker(workers, &flow.StartWorker{}),
// river.AddWorker(workers, &flow.WaitWorker{}) and
// river.AddWorker(workers, flow.NewDeadlineWorker(pool)) yourself.
func RiverConfig(pool *pgxpool.Pool, workers *river.Workers) *river.Config {
	if workers == nil {
		workers = river.NewWorkers()
	}
	// The only error is a worker already registered for the kind: the
	// caller's own choice, kept.
	_ = river.AddWorkerSafely(workers, &StartWorker{})
	_ = river.AddWorkerSafely(workers, &WaitWorker{})
	_ = river.AddWorkerSafely(workers, NewDeadlineWorker(pool))
	mw := NewMiddleware(pool)
	mw.JobTimeout = DefaultJobTimeout
	config := &river.Config{
		ID:                newClientID(),
		FetchCooldown:     DefaultFetchCooldown,
		FetchPollInterval: DefaultFetchPollInterval,
		JobTimeout:        -1,
		// River's cleaner is off: see above.
		CompletedJobRetentionPeriod: -1,
		CancelledJobRetentionPeriod: -1,
		DiscardedJobRetentionPeriod: -1,
		Queues:                      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: DefaultMaxWorkers}},
		RetryPolicy:                 &RetryPolicy{},
		Workers:                     workers,
		Middleware:                  []rivertype.Middleware{mw},
	}
	mw.riverConfig = config
	return config
}

// RetryPolicy is River's default retry policy (a backoff of about attempt^4
// seconds, counted from the job's errors) except that errors recording an
// attempt lost to a dead worker do not count: a node whose worker was killed
// five times and then fails on its own is retried after one second, not
// after 6^4.
type RetryPolicy struct {
	river.DefaultClientRetryPolicy
}

// NextRetry implements river.ClientRetryPolicy.
func (p *RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	lost := 0
	for _, e := range job.Errors {
		if isLostAttemptError(e.Error) {
			lost++
		}
	}
	if lost == 0 {
		return p.DefaultClientRetryPolicy.NextRetry(job)
	}
	cp := *job
	cp.Errors = make([]rivertype.AttemptError, 0, len(job.Errors)-lost)
	for _, e := range job.Errors {
		if !isLostAttemptError(e.Error) {
			cp.Errors = append(cp.Errors, e)
		}
	}
	return p.DefaultClientRetryPolicy.NextRetry(&cp)
}

// isLostAttemptError reports whether an attempt error was written by
// flow.rescue_lost_nodes: "htdag: worker N (...) died while running this
// attempt" or "htdag: River client X died before it registered, while ...".
func isLostAttemptError(msg string) bool {
	return strings.HasPrefix(msg, "htdag: ") && strings.Contains(msg, " died ") && strings.Contains(msg, "while running this attempt")
}
