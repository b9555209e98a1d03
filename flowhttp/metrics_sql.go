package flowhttp

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds the scrape's database round trip.
const scrapeTimeout = 5 * time.Second

// releaseBatch bounds the nodes one scrape reads for the release latency;
// releaseLookback how far back a scrape after a long pause looks.
const (
	releaseBatch    = 20_000
	releaseLookback = time.Minute
)

type scrapeDescs struct {
	runs, runsCreated, blocked, available, oldest, workers, ok *prometheus.Desc
}

func newScrapeDescs() scrapeDescs {
	return scrapeDescs{
		runs:        prometheus.NewDesc("htdag_runs", "Unfinished runs (top and child) by state, now.", []string{"state"}, nil),
		runsCreated: prometheus.NewDesc("htdag_runs_created_total", "Runs started (top and child) in the database, from flow.run's id sequence.", nil, nil),
		blocked:     prometheus.NewDesc("htdag_nodes_blocked", "Pending flow nodes (waiting for parents or for a child run), now; counted up to 100000.", nil, nil),
		available:   prometheus.NewDesc("htdag_jobs_available", "River jobs available to fetch, by queue, now; counted up to 100000 in all.", []string{"queue"}, nil),
		oldest:      prometheus.NewDesc("htdag_oldest_unfinished_run_age_seconds", "Age of the oldest pending or running run (0 when none).", nil, nil),
		workers:     prometheus.NewDesc("htdag_workers", "Fleet members neither stopped nor dead, by state (alive: holds its liveness lock; lost: does not).", []string{"state"}, nil),
		ok:          prometheus.NewDesc("htdag_scrape_database_ok", "1 when the scrape's database queries succeeded, else 0 (the error is logged).", nil, nil),
	}
}

func (d scrapeDescs) describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{d.runs, d.runsCreated, d.blocked, d.available, d.oldest, d.workers, d.ok} {
		ch <- desc
	}
}

// The scrape's queries. Each goes through an index bounded by the work in
// flight: run_active_idx (partial: pending and running runs), River's
// (state, queue, ...) index for pending and available jobs (with a LIMIT),
// worker_active_idx, and River's (state, finalized_at) index from the last
// scrape on.
const (
	scrapeRunsSQL = `SELECT state, count(*) FROM flow.run WHERE state IN ('pending', 'running') GROUP BY state`
	// The oldest by id is the oldest by creation: ids are handed out in order.
	scrapeOldestSQL = `SELECT coalesce((SELECT extract(epoch FROM now() - created_at)::float8 FROM flow.run
	                     WHERE state IN ('pending', 'running') ORDER BY id LIMIT 1), 0)`
	scrapeCreatedSQL   = `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM flow.run_id_seq`
	scrapeBlockedSQL   = `SELECT count(*) FROM (SELECT 1 FROM public.river_job WHERE state = 'pending' AND metadata ? 'flow_run' LIMIT 100000) s`
	scrapeAvailableSQL = `SELECT queue, count(*) FROM (SELECT queue FROM public.river_job WHERE state = 'available' LIMIT 100000) s GROUP BY queue`
	scrapeWorkersSQL   = `SELECT CASE WHEN flow.worker_alive(id) THEN 'alive' ELSE 'lost' END, count(*)
	                        FROM flow.worker WHERE stopped_at IS NULL AND dead_at IS NULL GROUP BY 1`
	// Nodes started by this worker (River appends the client id to
	// attempted_by at each fetch) on their first attempt, completed since
	// the watermark: from their last parent's completion to their start. The
	// plain bound on finalized_at is what lets River's (state, finalized_at)
	// index start at the watermark; the row comparison alone does not.
	scrapeReleaseSQL = `
SELECT j.finalized_at, j.id,
       extract(epoch FROM j.attempted_at - (SELECT max(p.finalized_at) FROM public.river_job p WHERE p.id = ANY (n.parents)))::float8
  FROM (SELECT id, finalized_at, attempted_at, attempted_by, attempt FROM public.river_job
         WHERE state = 'completed' AND finalized_at >= $1 AND (finalized_at, id) > ($1, $2)
         ORDER BY finalized_at, id LIMIT $4) j
  JOIN flow.node n ON n.job_id = j.id
 WHERE j.attempt = 1 AND j.attempted_by[array_upper(j.attempted_by, 1)] = $3 AND cardinality(n.parents) > 0
 ORDER BY j.finalized_at, j.id`
	// Where that window ends, the nodes of other workers included.
	scrapeReleaseEndSQL = `SELECT s.finalized_at, s.id FROM (SELECT finalized_at, id FROM public.river_job
	                         WHERE state = 'completed' AND finalized_at >= $1 AND (finalized_at, id) > ($1, $2)
	                         ORDER BY finalized_at, id LIMIT $3) s
	                        ORDER BY s.finalized_at DESC, s.id DESC LIMIT 1`
)

// releaseWatermark is where the next release-latency read starts.
type releaseWatermark struct {
	since time.Time
	id    int64
}

// scrapeDatabase sends the gauges read from the database, and feeds the
// release latency histogram, in one round trip.
func (m *Metrics) scrapeDatabase(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()

	// Concurrent scrapes take turns: the watermark moves once per read.
	m.releaseM.Lock()
	defer m.releaseM.Unlock()
	since := m.release
	if floor := time.Now().Add(-releaseLookback); since.since.Before(floor) {
		since = releaseWatermark{since: floor}
	}

	var (
		metrics   []prometheus.Metric
		latencies []float64
		next      = since
	)
	b := &pgx.Batch{}
	b.Queue(scrapeRunsSQL).Query(countsByLabel(m.scrape.runs, &metrics, "pending", "running"))
	b.Queue(scrapeOldestSQL).QueryRow(func(row pgx.Row) error {
		var age float64
		if err := row.Scan(&age); err != nil {
			return err
		}
		metrics = append(metrics, prometheus.MustNewConstMetric(m.scrape.oldest, prometheus.GaugeValue, age))
		return nil
	})
	b.Queue(scrapeCreatedSQL).QueryRow(func(row pgx.Row) error {
		var n int64
		if err := row.Scan(&n); err != nil {
			return err
		}
		metrics = append(metrics, prometheus.MustNewConstMetric(m.scrape.runsCreated, prometheus.CounterValue, float64(n)))
		return nil
	})
	b.Queue(scrapeBlockedSQL).QueryRow(func(row pgx.Row) error {
		var n int64
		if err := row.Scan(&n); err != nil {
			return err
		}
		metrics = append(metrics, prometheus.MustNewConstMetric(m.scrape.blocked, prometheus.GaugeValue, float64(n)))
		return nil
	})
	b.Queue(scrapeAvailableSQL).Query(func(rows pgx.Rows) error {
		var (
			queue string
			n     int64
		)
		_, err := pgx.ForEachRow(rows, []any{&queue, &n}, func() error {
			metrics = append(metrics, prometheus.MustNewConstMetric(m.scrape.available, prometheus.GaugeValue, float64(n), queue))
			return nil
		})
		return err
	})
	b.Queue(scrapeWorkersSQL).Query(countsByLabel(m.scrape.workers, &metrics, "alive", "lost"))
	if m.clientID != "" {
		b.Queue(scrapeReleaseSQL, since.since, since.id, m.clientID, releaseBatch).Query(func(rows pgx.Rows) error {
			var (
				at      time.Time
				id      int64
				latency *float64
			)
			_, err := pgx.ForEachRow(rows, []any{&at, &id, &latency}, func() error {
				if latency != nil && *latency >= 0 {
					latencies = append(latencies, *latency)
				}
				return nil
			})
			return err
		})
		b.Queue(scrapeReleaseEndSQL, since.since, since.id, releaseBatch).Query(func(rows pgx.Rows) error {
			var w releaseWatermark
			_, err := pgx.ForEachRow(rows, []any{&w.since, &w.id}, func() error { next = w; return nil })
			return err
		})
	}
	err := m.pool.SendBatch(ctx, b).Close()
	if err != nil {
		m.log.Warn("htdag: metrics: reading the database failed", "error", err)
		ch <- prometheus.MustNewConstMetric(m.scrape.ok, prometheus.GaugeValue, 0)
		return
	}
	for _, metric := range metrics {
		ch <- metric
	}
	for _, l := range latencies {
		m.releaseLatency.Observe(l)
	}
	m.release = next
	ch <- prometheus.MustNewConstMetric(m.scrape.ok, prometheus.GaugeValue, 1)
}

// countsByLabel reads (label, count) rows into gauges of desc, with every
// label of always present (0 when no row has it).
func countsByLabel(desc *prometheus.Desc, metrics *[]prometheus.Metric, always ...string) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		counts := map[string]float64{}
		for _, l := range always {
			counts[l] = 0
		}
		var (
			label string
			n     int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&label, &n}, func() error { counts[label] = float64(n); return nil }); err != nil {
			return err
		}
		for label, n := range counts {
			*metrics = append(*metrics, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, n, label))
		}
		return nil
	}
}
