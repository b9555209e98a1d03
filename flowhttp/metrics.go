package flowhttp

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/htdag/htdag/flow"
)

// Metrics are htdag's Prometheus metrics. Those counted in this process
// (installed as the flow middleware's [flow.Observer]) cost a few atomic
// adds per node and take no lock once a kind and queue have been seen:
//
//   - htdag_node_attempts_total{kind,queue,outcome}: attempts of flow nodes
//     worked here, by how they ended (completed, retryable, discarded,
//     cancelled, snoozed).
//   - htdag_node_duration_seconds{kind,queue}: from the start of Work to the
//     committed completion (or the error).
//   - htdag_completer_batch_nodes, htdag_completer_commit_seconds: the size
//     and round trip of each grouped completion.
//
// Those read from the database at scrape time, in one round trip bounded by
// a timeout, through indexes whose size follows the work in flight, never
// the finished history (see the README for what a scrape costs):
//
//   - htdag_release_latency_seconds: parent completed → child started, for
//     the nodes this worker started (first attempts) that completed since
//     the last scrape.
//   - htdag_runs{state}: pending and running runs (top and child).
//   - htdag_runs_created_total: runs ever started (flow.run's id sequence).
//   - htdag_nodes_blocked: pending flow nodes (waiting for parents or a
//     child run), counted up to [CountCap].
//   - htdag_jobs_available{queue}: River jobs ready to be fetched, up to
//     [CountCap] in all.
//   - htdag_oldest_unfinished_run_age_seconds: age of the oldest pending or
//     running run (0 when none).
//   - htdag_workers{state}: fleet members not stopped nor dead (alive, lost).
//   - htdag_scrape_database_ok: 1 when those queries succeeded.
//
// And htdag_runs_finished_total{state}, counted from LISTEN
// flow_run_finished while [Server.Start] runs: every run of the database that
// finished, so each worker reports the same count (aggregate with max, not
// sum).
type Metrics struct {
	pool     *pgxpool.Pool
	clientID string
	log      *slog.Logger

	series         sync.Map // nodeKey -> *nodeSeries
	nodeAttempts   *prometheus.CounterVec
	nodeDuration   *prometheus.HistogramVec
	batchNodes     prometheus.Histogram
	commitSeconds  prometheus.Histogram
	releaseLatency prometheus.Histogram
	runsFinished   *prometheus.CounterVec

	scrape   scrapeDescs
	releaseM sync.Mutex
	release  releaseWatermark
}

// CountCap bounds the scrape's counts of pending and available jobs, so
// that a backlog of millions costs the same as one of CountCap.
const CountCap = 100_000

var _ flow.Observer = (*Metrics)(nil)
var _ prometheus.Collector = (*Metrics)(nil)

type nodeKey struct{ kind, queue string }

type nodeSeries struct {
	attempts map[flow.NodeOutcome]prometheus.Counter
	duration prometheus.Observer
}

var outcomes = []flow.NodeOutcome{flow.OutcomeCompleted, flow.OutcomeRetryable, flow.OutcomeDiscarded, flow.OutcomeCancelled, flow.OutcomeSnoozed}

func newMetrics(pool *pgxpool.Pool, clientID string, log *slog.Logger) *Metrics {
	return &Metrics{
		pool:     pool,
		clientID: clientID,
		log:      log,
		nodeAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "htdag_node_attempts_total",
			Help: "Attempts of flow nodes worked by this process, by kind, queue and outcome.",
		}, []string{"kind", "queue", "outcome"}),
		nodeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "htdag_node_duration_seconds",
			Help:    "Time from the start of a flow node's Work to its committed completion or its error.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 16), // 0.5 ms .. ~8 min
		}, []string{"kind", "queue"}),
		batchNodes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "htdag_completer_batch_nodes",
			Help:    "Nodes in each grouped completion of this process.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "htdag_completer_commit_seconds",
			Help:    "Round trip of each grouped completion of this process, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16), // 0.2 ms .. 6.5 s
		}),
		releaseLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "htdag_release_latency_seconds",
			Help:    "From a node's last parent completing to the node starting, for nodes this worker started (first attempts), read at scrape time.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "htdag_runs_finished_total",
			Help: "Runs of the database that finished while this process listened, by state (every worker counts every run: aggregate with max).",
		}, []string{"state"}),
		scrape:  newScrapeDescs(),
		release: releaseWatermark{since: time.Now()},
	}
}

// NodeWorked implements flow.Observer.
func (m *Metrics) NodeWorked(a flow.NodeAttempt) {
	s := m.seriesFor(a.Kind, a.Queue)
	if c, ok := s.attempts[a.Outcome]; ok {
		c.Inc()
	}
	s.duration.Observe(a.Duration.Seconds())
}

// CompletionsCommitted implements flow.Observer.
func (m *Metrics) CompletionsCommitted(c flow.CompleterCommit) {
	m.batchNodes.Observe(float64(c.Nodes))
	m.commitSeconds.Observe(c.Duration.Seconds())
}

// seriesFor returns the kind and queue's counters, made on first sight:
// later calls read a sync.Map, which takes no lock for keys already stored.
func (m *Metrics) seriesFor(kind, queue string) *nodeSeries {
	k := nodeKey{kind, queue}
	if s, ok := m.series.Load(k); ok {
		return s.(*nodeSeries)
	}
	s := &nodeSeries{
		attempts: make(map[flow.NodeOutcome]prometheus.Counter, len(outcomes)),
		duration: m.nodeDuration.WithLabelValues(kind, queue),
	}
	for _, o := range outcomes {
		s.attempts[o] = m.nodeAttempts.WithLabelValues(kind, queue, string(o))
	}
	actual, _ := m.series.LoadOrStore(k, s)
	return actual.(*nodeSeries)
}

// counted are the collectors fed in this process.
func (m *Metrics) counted() []prometheus.Collector {
	return []prometheus.Collector{m.nodeAttempts, m.nodeDuration, m.batchNodes, m.commitSeconds, m.releaseLatency, m.runsFinished}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.counted() {
		c.Describe(ch)
	}
	m.scrape.describe(ch)
}

// Collect implements prometheus.Collector: what the database says now (which
// also feeds the release latency), then the counters.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.scrapeDatabase(ch)
	for _, c := range m.counted() {
		c.Collect(ch)
	}
}

func promhttpHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
