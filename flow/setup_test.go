package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// testTimeout bounds every test: a run that has not finished by then counts
// as a hang (a lost release or a deadlock).
const testTimeout = 60 * time.Second

// testBundle is what most tests need: a fresh database, a flow client on it
// and a context that ends with the test (or at testTimeout).
type testBundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
	flow *flow.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	pool := flowtest.NewPool(t)
	return &testBundle{ctx: ctx, pool: pool, flow: flow.NewClient(pool, nil)}
}

// newPool opens another pool on the bundle's database, as a second worker
// process would. It is closed when the test ends (before the database is
// dropped).
func (b *testBundle) newPool(t *testing.T, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg := b.pool.Config().Copy()
	cfg.MaxConns = maxConns
	return b.newPoolFromConfig(t, cfg)
}

// newPoolFromConfig opens a pool from cfg, closed when the test ends.
func (b *testBundle) newPoolFromConfig(t *testing.T, cfg *pgxpool.Config) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(b.ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// testWorkers are the test-only node kinds, registered next to jobs.Register.
// One instance may be shared by several River clients so that counts cover
// every client of a test.
type testWorkers struct {
	tally  *tallyWorker
	intx   *intxWorker
	gate   *gateWorker
	rangeW *rangeWorker
	square *squareWorker
}

func newTestWorkers() *testWorkers {
	return &testWorkers{tally: &tallyWorker{}, intx: &intxWorker{}, gate: &gateWorker{open: make(chan struct{})},
		rangeW: &rangeWorker{}, square: &squareWorker{}}
}

func (tw *testWorkers) register(workers *river.Workers) {
	jobs.Register(workers)
	river.AddWorker(workers, tw.tally)
	river.AddWorker(workers, tw.intx)
	river.AddWorker(workers, tw.gate)
	river.AddWorker(workers, tw.rangeW)
	river.AddWorker(workers, tw.square)
	river.AddWorker(workers, &totalWorker{})
	river.AddWorker(workers, &skipWorker{})
	river.AddWorker(workers, &statesWorker{})
	river.AddWorker(workers, &flakyWorker{})
	river.AddWorker(workers, &expandJSONWorker{})
}

// tallyArgs is a node that counts how many times it was worked (kind "tally").
type tallyArgs struct{}

func (tallyArgs) Kind() string { return "tally" }

type tallyWorker struct {
	river.WorkerDefaults[tallyArgs]
	works atomic.Int64
}

func (w *tallyWorker) Work(ctx context.Context, job *river.Job[tallyArgs]) error {
	n := w.works.Add(1)
	return flow.SetOutput(ctx, map[string]int64{"works": n})
}

// intxArgs is a node that inserts a row into intx_log inside its completion
// transaction (flow.InTx) and makes that function fail on its first Fail
// attempts, after the insert (kind "intx").
type intxArgs struct {
	Fail int `json:"fail"`
}

func (intxArgs) Kind() string { return "intx" }

type intxWorker struct {
	river.WorkerDefaults[intxArgs]
}

func (*intxWorker) NextRetry(*river.Job[intxArgs]) time.Time { return time.Now() }

// intxLogDDL creates the table intx nodes write to; txid is the top-level
// transaction of the write (savepoints have xids of their own).
const intxLogDDL = `CREATE TABLE intx_log (job_id bigint NOT NULL, node text NOT NULL, attempt int NOT NULL,
	txid bigint NOT NULL DEFAULT txid_current())`

var errIntx = errors.New("intx: planned failure after the insert")

func (*intxWorker) Work(ctx context.Context, job *river.Job[intxArgs]) error {
	node, _ := flow.NodeID(ctx)
	return flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO intx_log (job_id, node, attempt) VALUES ($1, $2, $3)",
			job.ID, node, job.Attempt); err != nil {
			return err
		}
		if job.Attempt <= job.Args.Fail {
			return fmt.Errorf("attempt %d: %w", job.Attempt, errIntx)
		}
		return nil
	})
}

// gateArgs is a node that blocks until the test opens the gate (kind "gate").
type gateArgs struct{}

func (gateArgs) Kind() string { return "gate" }

type gateWorker struct {
	river.WorkerDefaults[gateArgs]
	open    chan struct{}
	started atomic.Int64
}

func (w *gateWorker) Work(ctx context.Context, _ *river.Job[gateArgs]) error {
	w.started.Add(1)
	select {
	case <-w.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newRiverWorkers(tw *testWorkers) *river.Workers {
	workers := river.NewWorkers()
	tw.register(workers)
	return workers
}

func riverQueue(maxWorkers int) river.QueueConfig { return river.QueueConfig{MaxWorkers: maxWorkers} }

// riverConfig is flowtest.RiverConfig with the test workers.
func riverConfig(pool *pgxpool.Pool, tw *testWorkers) *river.Config {
	return flowtest.RiverConfig(pool, newRiverWorkers(tw))
}

// startRiver starts a River client that works flow nodes on pool the way
// htdag's worker does (flow.RiverConfig: htdag's middleware and fetch
// settings) and stops it when the test ends. It returns the client and its
// flow middleware.
func startRiver(t *testing.T, pool *pgxpool.Pool, tw *testWorkers) (*river.Client[pgx.Tx], *flow.Middleware) {
	t.Helper()
	config := riverConfig(pool, tw)
	return flowtest.StartRiver(t, pool, config), middleware(t, config)
}

// middleware returns the flow middleware that flow.RiverConfig installed.
func middleware(t *testing.T, config *river.Config) *flow.Middleware {
	t.Helper()
	mw, ok := config.Middleware[0].(*flow.Middleware)
	require.True(t, ok, "flow.RiverConfig installs *flow.Middleware first")
	return mw
}

// startRiverWithoutMiddleware starts a River client with no htdag
// middleware: River's own batch completer completes the nodes.
func startRiverWithoutMiddleware(t *testing.T, pool *pgxpool.Pool, tw *testWorkers) *river.Client[pgx.Tx] {
	t.Helper()
	config := riverConfig(pool, tw)
	config.Middleware = nil
	config.Queues = map[string]river.QueueConfig{river.QueueDefault: riverQueue(100)}
	return flowtest.StartRiver(t, pool, config)
}

// insertOnlyRiver is a River client that works nothing, for its job API
// (JobCancel).
func insertOnlyRiver(t *testing.T, pool *pgxpool.Pool) *river.Client[pgx.Tx] {
	t.Helper()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{TestOnly: true})
	require.NoError(t, err)
	return client
}

// wait waits for the run to finish, failing the test at the bundle's deadline.
func (b *testBundle) wait(t *testing.T, runID int64) *flow.Run {
	t.Helper()
	run, err := b.flow.Wait(b.ctx, runID)
	require.NoError(t, err, "run %d did not finish", runID)
	require.True(t, run.State.Finished())
	return run
}

// startSQL starts a run through the SQL door.
func (b *testBundle) startSQL(t *testing.T, spec string) int64 {
	t.Helper()
	var runID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT flow.start($1::jsonb)", spec).Scan(&runID))
	return runID
}

// nodeRow is one node of a run as the tests look at it.
type nodeRow struct {
	JobID     int64
	State     string
	Attempt   int
	Waiting   int
	Errors    int
	LastError string
	Output    json.RawMessage
}

// nodes returns the run's nodes keyed by node id.
func (b *testBundle) nodes(t *testing.T, runID int64) map[string]nodeRow {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT n.node_id, n.job_id, j.state::text, j.attempt, n.waiting, coalesce(cardinality(j.errors), 0),
		       coalesce(j.errors[array_upper(j.errors, 1)] ->> 'error', ''), j.metadata -> 'output'
		  FROM flow.node n JOIN river_job j ON j.id = n.job_id
		 WHERE n.run_id = $1`, runID)
	require.NoError(t, err)
	out := map[string]nodeRow{}
	for rows.Next() {
		var id string
		var r nodeRow
		require.NoError(t, rows.Scan(&id, &r.JobID, &r.State, &r.Attempt, &r.Waiting, &r.Errors, &r.LastError, &r.Output))
		out[id] = r
	}
	require.NoError(t, rows.Err())
	return out
}

// states returns the run's job states keyed by node id.
func (b *testBundle) states(t *testing.T, runID int64) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, n := range b.nodes(t, runID) {
		out[id] = n.State
	}
	return out
}

// getRun reads the run's row, failing the test if it is missing.
func (b *testBundle) getRun(t *testing.T, runID int64) *flow.Run {
	t.Helper()
	run, err := b.flow.GetRun(b.ctx, runID)
	require.NoError(t, err)
	return run
}

// jobID returns the job id of one node of a run.
func (b *testBundle) jobID(t *testing.T, runID int64, nodeID string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(b.ctx,
		"SELECT job_id FROM flow.node WHERE run_id = $1 AND node_id = $2", runID, nodeID).Scan(&id))
	return id
}

// complete marks nodes completed by hand, as a psql user would, one
// statement each, in the order given (a parent before its children: the
// guards refuse completing a node whose parents have not completed).
func (b *testBundle) complete(t *testing.T, runID int64, nodeIDs ...string) {
	t.Helper()
	for _, id := range nodeIDs {
		b.completeTogether(t, runID, id)
	}
}

// completeTogether marks nodes completed by hand in one statement.
func (b *testBundle) completeTogether(t *testing.T, runID int64, nodeIDs ...string) {
	t.Helper()
	tag, err := b.pool.Exec(b.ctx, `
		UPDATE river_job SET state = 'completed', finalized_at = now()
		 WHERE id IN (SELECT job_id FROM flow.node WHERE run_id = $1 AND node_id = ANY ($2))`, runID, nodeIDs)
	require.NoError(t, err)
	require.EqualValues(t, len(nodeIDs), tag.RowsAffected())
}

// requireNoRows asserts that nothing was written: no run, no node, no job.
func requireNoRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	var runs, nodes, jobCount int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM flow.run), (SELECT count(*) FROM flow.node), (SELECT count(*) FROM river_job)`).
		Scan(&runs, &nodes, &jobCount))
	require.Zero(t, runs, "flow.run rows")
	require.Zero(t, nodes, "flow.node rows")
	require.Zero(t, jobCount, "river_job rows")
}
