package ingest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// startWorkers starts a River client working the ingestion's nodes on the
// bundle's database, as `worker run` does, until the test ends.
func (b *testBundle) startWorkers(t *testing.T) {
	t.Helper()
	workers := river.NewWorkers()
	jobs.Register(workers)
	Register(workers, b.pool)
	config := flowtest.RiverConfig(b.pool, workers)
	config.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 50}}
	flowtest.StartRiver(t, b.pool, config)
}

// ingest starts an ingestion run and waits for it; it returns the ingest run
// id and the flow run's output.
func (b *testBundle) ingest(t *testing.T, codebase, root string) (int64, *Indexed) {
	t.Helper()
	return b.ingestArgs(t, CodebaseArgs{Codebase: codebase, Root: root})
}

func (b *testBundle) ingestArgs(t *testing.T, args CodebaseArgs) (int64, *Indexed) {
	t.Helper()
	fc := flow.NewClient(b.pool, nil)
	run, flowRun, err := Start(b.ctx, b.pool, fc, args)
	require.NoError(t, err)
	done, err := fc.Wait(b.ctx, flowRun)
	require.NoError(t, err, "flow run %d did not finish", flowRun)
	require.Equal(t, flow.RunStateCompleted, done.State, "flow run %d", flowRun)
	flowtest.RequireTreeChecked(b.ctx, t, b.pool, flowRun)
	var out Indexed
	require.NoError(t, json.Unmarshal(done.Output, &out), string(done.Output))
	return run, &out
}

// parsedBy returns the paths whose parse node did parse (was not skipped) in
// an ingest run.
func (b *testBundle) parsedBy(t *testing.T, run int64) []string {
	t.Helper()
	return b.strings(t, `
		SELECT args->>'path' FROM river_job
		 WHERE kind = 'ingest.parse' AND (args->>'run')::bigint = $1 AND metadata->'output'->>'skip' IS NULL`, run)
}

func TestIngestWorkflowStoresTheFixtureThenOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorkers(t)
	root := flowtest.CopyFixture(t, fixtureRoot)

	// The index step announces the run on ingest_indexed.
	listen, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer listen.Release()
	_, err = listen.Exec(b.ctx, "LISTEN "+IndexedChannel)
	require.NoError(t, err)

	first, out := b.ingest(t, "fixture", root)
	n, err := listen.Conn().WaitForNotification(b.ctx)
	require.NoError(t, err)
	var announced Indexed
	require.NoError(t, json.Unmarshal([]byte(n.Payload), &announced))
	require.Equal(t, *out, announced)
	_, err = listen.Exec(b.ctx, "UNLISTEN *")
	require.NoError(t, err)

	requireFixtureStored(t, b, "fixture", first)
	require.Equal(t, Indexed{Run: first, Codebase: "fixture", State: "completed", Files: 5, Lines: 126, Symbols: 21,
		Added: 5, Skipped: 6, LinesAdded: 126, SymbolsAdded: 21}, *out)
	require.Equal(t, []string{"README.md", "main.go", "scripts/tool.py", "util/strings.go", "web/App.vue"}, b.parsedBy(t, first))

	// The hierarchy: the root node expanded into one node per directory
	// and the index; each directory expanded into six nodes per file and
	// its summary.
	var planned, dirs int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT files_planned, dirs_planned FROM ingest.run WHERE id = $1`, first).
		Scan(&planned, &dirs))
	require.Equal(t, []int{11, 5}, []int{planned, dirs})
	require.Equal(t, []string{"ingest.chunk 11", "ingest.codebase 1", "ingest.detect 11", "ingest.dir 5", "ingest.index 1",
		"ingest.parse 11", "ingest.stat 11", "ingest.store 11", "ingest.summary 5", "ingest.validate 11"},
		b.strings(t, `SELECT kind || ' ' || count(*) FROM river_job WHERE kind LIKE 'ingest.%' AND state = 'completed' GROUP BY kind`))

	// Each step has its own timeout and attempt budget.
	require.Equal(t, []string{"ingest.chunk 30000 3", "ingest.codebase 300000 3", "ingest.detect 5000 3", "ingest.dir 60000 3",
		"ingest.index 300000 5", "ingest.parse 120000 3", "ingest.stat 10000 3", "ingest.store 60000 5",
		"ingest.summary 60000 5", "ingest.validate 30000 3"},
		b.strings(t, `SELECT DISTINCT concat_ws(' ', kind, metadata->>'flow_timeout_ms', max_attempts) FROM river_job WHERE kind LIKE 'ingest.%'`))

	changeFixture(t, root)
	second, out := b.ingest(t, "fixture", root)
	require.Equal(t, []string{"util/strings.go"}, b.parsedBy(t, second), "only the changed file is parsed again")
	requireChangesRecorded(t, b, "fixture", first, second)
	require.Equal(t, 1, out.Modified)
	require.Equal(t, 1, out.Removed)
	require.Equal(t, []int64{4, 1 + 28, 1, 2}, []int64{out.LinesAdded, out.LinesRemoved, out.SymbolsAdded, out.SymbolsRemoved})
}

func TestIngestingTwiceAtOnceIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t) // no workers: the first run stays in progress
	fc := flow.NewClient(b.pool, nil)
	_, flowRun, err := Start(b.ctx, b.pool, fc, CodebaseArgs{Codebase: "x", Root: "/tmp"})
	require.NoError(t, err)
	_, _, err = Start(b.ctx, b.pool, fc, CodebaseArgs{Codebase: "x", Root: "/tmp"})
	require.ErrorContains(t, err, "is being ingested by run")

	// Once the first is cancelled, a new run may start.
	_, err = fc.Cancel(b.ctx, flowRun)
	require.NoError(t, err)
	// The cancel failed the ingest run itself, not only its view.
	require.Equal(t, []string{"failed"}, b.strings(t, `SELECT state FROM ingest.run WHERE codebase_id = 'x'`))
	_, _, err = Start(b.ctx, b.pool, fc, CodebaseArgs{Codebase: "x", Root: "/tmp"})
	require.NoError(t, err)
	var states []string
	rows, err := b.pool.Query(b.ctx, `SELECT state FROM ingest.runs WHERE codebase = 'x' ORDER BY id`)
	require.NoError(t, err)
	states, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"failed", "running"}, states)
}

func TestIngestingATreeEmptiedRemovesEverything(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorkers(t)
	root := flowtest.CopyFixture(t, fixtureRoot)
	b.ingest(t, "fixture", root)

	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		require.NoError(t, os.RemoveAll(filepath.Join(root, e.Name())))
	}
	// No directory holds a file: the expansion is the index alone.
	second, out := b.ingest(t, "fixture", root)
	require.Equal(t, Indexed{Run: second, Codebase: "fixture", State: "completed", Removed: 5,
		LinesRemoved: 126, SymbolsRemoved: 21}, *out)
	require.Empty(t, b.strings(t, `SELECT path FROM ingest.current_files WHERE codebase = 'fixture'`))
}

func TestFailedAttemptsAreAnnounced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	listen, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer listen.Release()
	_, err = listen.Exec(b.ctx, "LISTEN "+ProgressChannel)
	require.NoError(t, err)
	next := func() Event {
		n, err := listen.Conn().WaitForNotification(b.ctx)
		require.NoError(t, err)
		var ev Event
		require.NoError(t, json.Unmarshal([]byte(n.Payload), &ev))
		return ev
	}
	r := reporter{b.pool, "parse"}

	// An ordinary error is returned as is, for River to retry.
	boom := errors.New("disk on fire")
	require.Equal(t, boom, r.fail(b.ctx, 7, "a.go", 1, 3, boom))
	require.Equal(t, Event{Run: 7, Event: EventError, Path: "a.go", Step: "parse", Attempt: 1, Error: "disk on fire"}, next())
	require.Equal(t, boom, r.fail(b.ctx, 7, "a.go", 3, 3, boom))
	require.True(t, next().Final, "the last attempt is final")

	// A file changed under the run cancels the node at once.
	err = r.fail(b.ctx, 7, "b.go", 1, 3, &errChanged{path: "b.go"})
	var cancel *river.JobCancelError
	require.ErrorAs(t, err, &cancel)
	ev := next()
	require.True(t, ev.Final)
	require.Equal(t, "b.go changed while it was being ingested; ingest again", ev.Error)
}

func TestLargeDirectoriesAreIngestedInParts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorkers(t)
	root := flowtest.CopyFixture(t, fixtureRoot)

	// Parts of two files: the root directory's six files take three parts.
	first, _ := b.ingestArgs(t, CodebaseArgs{Codebase: "fixture", Root: root, PartSize: 2})
	requireFixtureStored(t, b, "fixture", first)
	require.Equal(t, []string{"ingest.dir 8", "ingest.summary 5"},
		b.strings(t, `SELECT kind || ' ' || count(*) FROM river_job WHERE kind IN ('ingest.dir', 'ingest.summary') GROUP BY kind`))
}

// Two names that are not UTF-8 stay two files: they are stored escaped
// (EncodePath), each with its own content.
func TestNamesThatAreNotUTF8StayDistinct(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorkers(t)
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "a\xff.go"), []byte("package a\n\nfunc FF() {}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "a\xfe.go"), []byte("package a\n\nfunc FE() {}\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "d\xe9"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "d\xe9", `back\slash.go`), []byte("package d\n"), 0o644))

	_, out := b.ingest(t, "latin1", root)
	require.Equal(t, 3, out.Added)
	require.Equal(t, []string{`a\xfe.go func FE`, `a\xff.go func FF`, `d\xe9/back\\slash.go `},
		b.strings(t, `SELECT c.path || ' ' || coalesce(string_agg(s.key, ','), '') FROM ingest.current_files c
		                LEFT JOIN ingest.symbol s ON s.version_id = c.version_id WHERE c.codebase = 'latin1' GROUP BY c.path`))
	require.Equal(t, []string{`d\xe9`}, b.strings(t, `SELECT DISTINCT dir FROM ingest.current_files WHERE codebase = 'latin1' AND dir <> '.'`))
}

// An ingest run fails in the transaction that fails its flow run, whatever
// failed it; retrying the flow run revives it.
func TestAnIngestRunFailsWithItsFlowRunAndRevivesWithIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorkers(t)
	root := filepath.Join(t.TempDir(), "later") // not there yet: the walk cancels its node
	fc := flow.NewClient(b.pool, nil)
	run, flowRun, err := Start(b.ctx, b.pool, fc, CodebaseArgs{Codebase: "later", Root: root})
	require.NoError(t, err)
	done, err := fc.Wait(b.ctx, flowRun)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateFailed, done.State)
	require.Equal(t, []string{"failed"}, b.strings(t, `SELECT state FROM ingest.run WHERE id = $1`, run))
	flowtest.RequireTreeChecked(b.ctx, t, b.pool, flowRun)

	require.NoError(t, os.MkdirAll(root, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n"), 0o644))
	_, err = fc.Retry(b.ctx, flowRun)
	require.NoError(t, err)
	done, err = fc.Wait(b.ctx, flowRun)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, done.State)
	flowtest.RequireTreeChecked(b.ctx, t, b.pool, flowRun)
	require.Equal(t, []string{"completed 1"}, b.strings(t, `SELECT state || ' ' || added FROM ingest.run WHERE id = $1`, run))
}
