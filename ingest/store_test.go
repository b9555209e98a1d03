package ingest

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/htdag/htdag/flowtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

const testTimeout = 60 * time.Second

type testBundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
}

// setup returns a bundle on a fresh database with the engine's and
// ingestion's migrations.
func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupConfig(t, flowtest.DatabaseConfig(t, MigrationLine()))
}

// setupOn returns a bundle on the database at url, as it is.
func setupOn(t *testing.T, url string) *testBundle {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	return setupConfig(t, cfg)
}

func setupConfig(t *testing.T, cfg *pgxpool.Config) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	cfg.MaxConns = 10
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &testBundle{ctx: ctx, pool: pool}
}

// ingestDirect runs every step of an ingestion in this process, in the order
// the workflow runs them, each store and summary in a transaction of its own
// as in their nodes' completion transactions. It returns the run id and the
// paths it parsed.
func (b *testBundle) ingestDirect(t *testing.T, codebase, root string) (int64, []string) {
	t.Helper()
	ctx := b.ctx
	var run int64
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) (err error) {
		run, err = BeginRun(ctx, tx, codebase, root)
		return err
	}))
	plan, err := Walk(ctx, root)
	require.NoError(t, err)
	prev, err := currentHashes(ctx, b.pool, codebase)
	require.NoError(t, err)
	var parsed []string
	for _, d := range plan.Dirs {
		for _, f := range d.Files {
			st := &fileState{Run: run, Codebase: codebase, Root: root, Path: f.Path, Dir: d.Path,
				MaxSize: DefaultMaxFileSize, Ignored: f.Ignored, PrevHash: prev[f.Path]}
			for _, step := range []func(*fileState) error{doStat, doValidate, doDetect, doParse, doChunk} {
				if st.Skip != "" {
					break
				}
				require.NoError(t, step(st))
				if st.Parsed != nil && st.Chunks == nil {
					parsed = append(parsed, st.Path)
				}
			}
			content, err := prepareStore(st)
			require.NoError(t, err)
			require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
				_, err := storeState(ctx, tx, st, content)
				return err
			}))
		}
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			_, err := summarizeDir(ctx, tx, run, d.Path)
			return err
		}))
	}
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := finishRun(ctx, tx, run)
		return err
	}))
	return run, parsed
}

func (b *testBundle) strings(t *testing.T, sql string, args ...any) []string {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, sql, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	sort.Strings(out)
	return out
}

// requireFixtureStored asserts what ingesting the fixture tree stores: its
// four valid files and their symbols, and why every other file was skipped.
func requireFixtureStored(t *testing.T, b *testBundle, codebase string, run int64) {
	t.Helper()
	require.Equal(t, []string{"README.md markdown", "main.go go", "scripts/tool.py python", "util/strings.go go", "web/App.vue vue"},
		b.strings(t, `SELECT path || ' ' || language FROM ingest.current_files WHERE codebase = $1`, codebase))
	require.Equal(t, []string{
		".gitignore skipped vendored",
		"README.md added",
		"assets/blob.txt skipped binary",
		"debug.log skipped ignored by .gitignore:3: *.log",
		"empty.py skipped empty",
		"main.go added",
		"scripts/tool.py added",
		"secret.go skipped ignored by .gitignore:4: secret.go",
		"util/strings.go added",
		"util/zz_generated.go skipped generated",
		"web/App.vue added",
	}, b.strings(t, `SELECT concat_ws(' ', path, status, reason) FROM ingest.run_file WHERE run_id = $1`, run))

	require.Equal(t, []string{
		"README.md section Fixture 1-11", "README.md section Layout 5-7", "README.md section Rules 9-11",
		"main.go const Version 12-12", "main.go func main 35-41", "main.go method *Config.Greet 31-33",
		"main.go type Config 15-18", "main.go type Greeter 21-23",
		"main.go var defaultName 26-26", "main.go var verbose 27-27",
		"scripts/tool.py class Counter 9-17", "scripts/tool.py function main 20-24",
		"util/strings.go func Reverse 15-21", "util/strings.go func Title 7-12",
		"util/strings.go method Pair[T].Swap 29-29", "util/strings.go type Pair 24-26",
		"web/App.vue block script 5-6", "web/App.vue block style 15-17", "web/App.vue block template 1-3",
		"web/App.vue function shout 10-13", "web/App.vue variable greeting 8-8",
	}, b.strings(t, `
		SELECT format('%s %s %s-%s', c.path, s.key, s.start_line, s.end_line)
		  FROM ingest.current_files c JOIN ingest.symbol s ON s.version_id = c.version_id
		 WHERE c.codebase = $1`, codebase))
	require.Equal(t, []string{"main.go main {fmt,os,example.com/fixture/util}", "util/strings.go util {strings}"},
		b.strings(t, `SELECT concat_ws(' ', c.path, c.package, v.imports::text) FROM ingest.current_files c
		                JOIN ingest.file_version v ON v.id = c.version_id WHERE c.codebase = $1 AND c.language = 'go'`, codebase))

	// Chunks cover every non-blank line of every stored file.
	var uncovered int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM ingest.current_files c
		  JOIN ingest.file_version v ON v.id = c.version_id,
		       LATERAL unnest(string_to_array(v.content, E'\n')) WITH ORDINALITY AS l(text, n)
		 WHERE c.codebase = $1 AND btrim(l.text, E' \t') <> ''
		   AND NOT EXISTS (SELECT 1 FROM ingest.chunk k WHERE k.version_id = c.version_id AND l.n BETWEEN k.start_line AND k.end_line)`,
		codebase).Scan(&uncovered))
	require.Zero(t, uncovered, "non-blank lines outside every chunk")

	var added, skipped, files int
	var state string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state, added, skipped, files FROM ingest.runs WHERE id = $1`, run).
		Scan(&state, &added, &skipped, &files))
	require.Equal(t, "completed", state)
	require.Equal(t, 5, added)
	require.Equal(t, 6, skipped)
	require.Equal(t, 5, files)
	require.Equal(t, []string{`. 2 {"go": {"files": 1, "lines": 41, "symbols": 7}, "markdown": {"files": 1, "lines": 11, "symbols": 3}}`,
		`assets 0 {}`, `scripts 1 {"python": {"files": 1, "lines": 28, "symbols": 2}}`,
		`util 1 {"go": {"files": 1, "lines": 29, "symbols": 4}}`, `web 1 {"vue": {"files": 1, "lines": 17, "symbols": 5}}`},
		b.strings(t, `SELECT concat_ws(' ', dir, files, languages::text) FROM ingest.dir_summary WHERE run_id = $1`, run))
}

// changeFixture changes util/strings.go (one line changed, one function
// added) and deletes scripts/tool.py.
func changeFixture(t *testing.T, root string) {
	t.Helper()
	p := filepath.Join(root, "util", "strings.go")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	data = []byte(string(data) + "\n// Upper upper-cases s.\nfunc Upper(s string) string { return strings.ToUpper(s) }\n")
	data = []byte(replaceOnce(t, string(data), "// Reverse reverses s byte by byte.", "// Reverse reverses the bytes of s."))
	require.NoError(t, os.WriteFile(p, data, 0o644))
	require.NoError(t, os.Remove(filepath.Join(root, "scripts", "tool.py")))
}

func replaceOnce(t *testing.T, s, old, repl string) string {
	t.Helper()
	i := len(s)
	for j := 0; j+len(old) <= len(s); j++ {
		if s[j:j+len(old)] == old {
			i = j
			break
		}
	}
	require.Less(t, i, len(s), "%q not found", old)
	return s[:i] + repl + s[i+len(old):]
}

// requireChangesRecorded asserts what the second run of the fixture records
// after changeFixture.
func requireChangesRecorded(t *testing.T, b *testBundle, codebase string, first, second int64) {
	t.Helper()
	require.Equal(t, []string{
		".gitignore skipped 0 0 {} {}",
		"README.md unchanged 0 0 {} {}",
		"assets/blob.txt skipped 0 0 {} {}",
		"debug.log skipped 0 0 {} {}",
		"empty.py skipped 0 0 {} {}",
		"main.go unchanged 0 0 {} {}",
		`scripts/tool.py removed 0 28 {} {"class Counter","function main"}`,
		"secret.go skipped 0 0 {} {}",
		`util/strings.go modified 4 1 {"func Upper"} {}`,
		"util/zz_generated.go skipped 0 0 {} {}",
		"web/App.vue unchanged 0 0 {} {}",
	}, b.strings(t, `SELECT concat_ws(' ', path, status, lines_added, lines_removed, symbols_added, symbols_removed)
	                    FROM ingest.run_file WHERE run_id = $1`, second))
	require.Equal(t, []string{"README.md", "main.go", "util/strings.go", "web/App.vue"},
		b.strings(t, `SELECT path FROM ingest.current_files WHERE codebase = $1`, codebase))

	// Every version is kept: the history view shows both of util/strings.go
	// and the life of scripts/tool.py.
	require.Equal(t, []string{
		"scripts/tool.py " + itoa(first) + " added 28",
		"scripts/tool.py " + itoa(second) + " removed 28",
		"util/strings.go " + itoa(first) + " added 29",
		"util/strings.go " + itoa(second) + " modified 32",
	}, b.strings(t, `SELECT concat_ws(' ', path, run_id, status, lines) FROM ingest.file_history
	                   WHERE codebase = $1 AND path IN ('util/strings.go', 'scripts/tool.py')`, codebase))
	require.Equal(t, []string{
		`scripts/tool.py removed 28 - {} {"class Counter","function main"}`,
		`util/strings.go modified 29 32 {"func Upper"} {}`,
	}, b.strings(t, `SELECT concat_ws(' ', path, change, lines_before, coalesce(lines_after::text, '-'), symbols_added, symbols_removed)
	                   FROM ingest.changes($1, $2, $3)`, codebase, first, second))

	var modified, removed, unchanged int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT modified, removed, unchanged FROM ingest.run WHERE id = $1`, second).
		Scan(&modified, &removed, &unchanged))
	require.Equal(t, []int{1, 1, 3}, []int{modified, removed, unchanged})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestStoreRecordsFilesSymbolsAndChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	root := flowtest.CopyFixture(t, fixtureRoot)

	first, parsed := b.ingestDirect(t, "fixture", root)
	require.Equal(t, []string{"README.md", "main.go", "scripts/tool.py", "util/strings.go", "web/App.vue"}, sorted(parsed))
	requireFixtureStored(t, b, "fixture", first)

	changeFixture(t, root)
	second, parsed := b.ingestDirect(t, "fixture", root)
	require.Equal(t, []string{"util/strings.go"}, parsed, "only the changed file is parsed again")
	requireChangesRecorded(t, b, "fixture", first, second)

	// A third run over the same tree changes nothing.
	third, parsed := b.ingestDirect(t, "fixture", root)
	require.Empty(t, parsed)
	require.Equal(t, []string{"unchanged 4"},
		b.strings(t, `SELECT status || ' ' || count(*) FROM ingest.run_file WHERE run_id = $1 AND status <> 'skipped' GROUP BY status`, third))
}

func TestAFileThatBecomesInvalidIsRemoved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	root := flowtest.CopyFixture(t, fixtureRoot)
	b.ingestDirect(t, "fixture", root)

	require.NoError(t, os.WriteFile(filepath.Join(root, "main.go"), nil, 0o644))
	second, _ := b.ingestDirect(t, "fixture", root)
	require.Equal(t, []string{"main.go removed empty 41"},
		b.strings(t, `SELECT concat_ws(' ', path, status, reason, lines_removed) FROM ingest.run_file WHERE run_id = $1 AND status = 'removed'`, second))
}

func TestOneRunAtATimePerCodebase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx)
	run, err := BeginRun(b.ctx, tx, "c", "/src")
	require.NoError(t, err)
	// A flow run that is still running keeps the ingest run in progress.
	var flowRun int64
	require.NoError(t, tx.QueryRow(b.ctx, `SELECT flow.start('{"nodes": [{"id": "a", "kind": "noop"}]}')`).Scan(&flowRun))
	require.NoError(t, SetFlowRun(b.ctx, tx, run, flowRun))
	_, err = tx.Exec(b.ctx, "SAVEPOINT s")
	require.NoError(t, err)
	_, err = BeginRun(b.ctx, tx, "c", "/src")
	require.ErrorContains(t, err, "is being ingested by run")
	_, err = tx.Exec(b.ctx, "ROLLBACK TO SAVEPOINT s")
	require.NoError(t, err)

	// Once the flow run has ended (here cancelled) without indexing, the next begin marks
	// the stale run failed and goes ahead.
	_, err = tx.Exec(b.ctx, `SELECT flow.cancel($1)`, flowRun)
	require.NoError(t, err)
	next, err := BeginRun(b.ctx, tx, "c", "/src")
	require.NoError(t, err)
	require.Greater(t, next, run)
	var state string
	require.NoError(t, tx.QueryRow(b.ctx, `SELECT state FROM ingest.run WHERE id = $1`, run).Scan(&state))
	require.Equal(t, "failed", state)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
