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
// "default" queue with [DefaultMaxWorkers], htdag's fetch settings, and the
// flow [Middleware] installed. Adjust the fields before river.NewClient.
func RiverConfig(pool *pgxpool.Pool, workers *river.Workers) *river.Config {
	return &river.Config{
		FetchCooldown:     DefaultFetchCooldown,
		FetchPollInterval: DefaultFetchPollInterval,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: DefaultMaxWorkers}},
		Workers:           workers,
		Middleware:        []rivertype.Middleware{NewMiddleware(pool)},
	}
}
