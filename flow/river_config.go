package flow

import (
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
// [StartWorker] for flow.start jobs (kept if workers already has a worker for
// that kind). A nil workers is a new river.Workers holding only those. Adjust
// the fields before river.NewClient.
//
// Building a river.Config by hand instead, install [NewMiddleware]'s
// middleware and add river.AddWorker(workers, &flow.StartWorker{}) yourself.
func RiverConfig(pool *pgxpool.Pool, workers *river.Workers) *river.Config {
	if workers == nil {
		workers = river.NewWorkers()
	}
	// The only error is a worker already registered for the kind: the
	// caller's own choice, kept.
	_ = river.AddWorkerSafely(workers, &StartWorker{})
	return &river.Config{
		FetchCooldown:     DefaultFetchCooldown,
		FetchPollInterval: DefaultFetchPollInterval,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: DefaultMaxWorkers}},
		Workers:           workers,
		Middleware:        []rivertype.Middleware{NewMiddleware(pool)},
	}
}
