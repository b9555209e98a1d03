package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/ingest"
)

func TestIngestWaitPrintsChangesAndSummary(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	startWorker(t, pool)
	root := flowtest.CopyFixture(t, filepath.Join("..", "..", "ingest", "testdata"))

	res := cli(t, "", db(pool, "ingest", root, "--codebase", "fixture", "--wait")...)
	require.Equal(t, 0, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	require.Contains(t, res.stdout, "11 files walked: 5 added, 0 modified, 0 unchanged, 0 removed, 6 skipped")
	require.Contains(t, res.stdout, "lines +126 -0, symbols +21 -0")
	require.Contains(t, res.stdout, "first run of this codebase")
	require.Contains(t, res.stdout, "skipped: ignored by .gitignore 2; binary 1; empty 1; generated 1; vendored 1")
	require.Contains(t, res.stdout, "not entered: build, internal/vendor")
	require.Regexp(t, `(?m)^go\s+2\s+70\s+11$`, res.stdout)
	require.Regexp(t, `(?m)^vue\s+1\s+17\s+5$`, res.stdout)
	require.Regexp(t, `(?m)^total\s+5\s+126\s+21$`, res.stdout)
	// Not a terminal: progress lines, the last one complete.
	require.Regexp(t, `(?m)^\[#{24}\] 11/11 files 100%`, res.stderr)

	// Change one file, delete another: the report lists both.
	p := filepath.Join(root, "main.go")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(data), "func main() {", "func helper() {}\n\nfunc main() {", 1)), 0o644))
	require.NoError(t, os.Remove(filepath.Join(root, "util", "strings.go")))

	res = cli(t, "", db(pool, "ingest", root, "--codebase", "fixture", "--wait")...)
	require.Equal(t, 0, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	require.Contains(t, res.stdout, "10 files walked: 0 added, 1 modified, 3 unchanged, 1 removed, 6 skipped")
	require.Regexp(t, `(?m)^changes since run 1:$`, res.stdout)
	require.Regexp(t, `(?m)^  M main\.go\s+\+2 -0 lines\s+\+func helper$`, res.stdout)
	require.Regexp(t, `(?m)^  D util/strings\.go \(no longer in the tree\)\s+\+0 -29 lines\s+-func Title, -func Reverse, -type Pair, -method Pair\[T\]\.Swap$`, res.stdout)

	// --json: the report as a document.
	res = cli(t, "", db(pool, "ingest", root, "--codebase", "fixture", "--wait", "--json")...)
	require.Equal(t, 0, res.code, res.stderr)
	var doc struct {
		ingest.Report
		FlowState string `json:"flow_state"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc), res.stdout)
	require.Equal(t, "completed", doc.FlowState)
	require.Equal(t, 4, doc.Unchanged)
	require.Equal(t, int64(2), doc.PreviousRun)
	require.Empty(t, doc.Changes)
}

func TestIngestWithoutWaitPrintsTheFlowRun(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n"), 0o644))

	res := cli(t, "", db(pool, "ingest", root)...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `^[0-9]+\n$`, res.stdout)

	// No worker runs, so the first run is still in progress: a second is refused.
	res = cli(t, "", db(pool, "ingest", root)...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "is being ingested by run 1")

	res = cli(t, "", db(pool, "ingest", filepath.Join(root, "a.go"))...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "a.go\" is not a directory")
	res = cli(t, "", db(pool, "ingest", filepath.Join(root, "missing"))...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "missing\" does not exist")
	require.NotContains(t, res.stderr, "not a directory")
	// An empty name (an unset variable, say) does not mean the current directory.
	res = cli(t, "", db(pool, "ingest", "")...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `no directory given ("" would be the current directory; pass "." to mean it)`)
}

// A file or a directory the worker may not read is skipped with the reason,
// and the run completes. Root reads everything, so as root the worker runs as
// nobody, as a deployment's worker would.
func TestIngestSkipsUnreadableFilesAndDirectories(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "secret.go"), []byte("package a\n\nconst key = 1\n"), 0o000))
	require.NoError(t, os.Mkdir(filepath.Join(root, "locked"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "locked", "b.go"), []byte("package b\n"), 0o644))
	require.NoError(t, os.Chmod(filepath.Join(root, "locked"), 0o000))
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(root, "locked"), 0o755) })

	if os.Geteuid() == 0 {
		bin := workerBinary(t)
		traversable(t, root)
		traversable(t, bin)
		cmd := exec.Command(bin, db(pool, "run", "--max-conns", "10")...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		startWorkerCmd(t, cmd)
	} else {
		startWorker(t, pool)
	}

	res := cli(t, "", db(pool, "ingest", root, "--codebase", "locked", "--wait")...)
	require.Equal(t, 0, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	require.Contains(t, res.stdout, "2 files walked: 1 added, 0 modified, 0 unchanged, 0 removed, 1 skipped")
	require.Contains(t, res.stdout, "skipped: unreadable: permission denied 1")
	require.Contains(t, res.stdout, "not entered: locked")

	var reason, pruned, state string
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT rf.reason, r.pruned->>'locked', r.state FROM ingest.run_file rf JOIN ingest.run r ON r.id = rf.run_id
		 WHERE rf.path = 'secret.go'`).Scan(&reason, &pruned, &state))
	require.Equal(t, []string{"unreadable: permission denied", "unreadable: permission denied", "completed"},
		[]string{reason, pruned, state})
}

// traversable opens path's parent directories (t.TempDir's and
// os.MkdirTemp's are 0700) to other users, so a worker running as nobody
// can reach path.
func traversable(t *testing.T, path string) {
	t.Helper()
	for dir := filepath.Dir(path); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		info, err := os.Stat(dir)
		require.NoError(t, err)
		if info.Mode().Perm()&0o005 != 0o005 {
			require.NoError(t, os.Chmod(dir, info.Mode().Perm()|0o005))
		}
	}
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(path, info.Mode().Perm()|0o005))
}

// `worker migrate` installs the engine only; --with ingest, or the first
// `worker ingest`, installs ingestion's schema.
func TestIngestionIsInstalledOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hasIngest := func(url string) bool {
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer conn.Close(ctx)
		var ok bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT to_regnamespace('ingest') IS NOT NULL`).Scan(&ok))
		return ok
	}

	url := emptyDatabase(t)
	res := cli(t, "", "--database-url", url, "migrate")
	require.Equal(t, 0, res.code, res.stderr)
	require.NotContains(t, res.stdout, "ingest")
	require.False(t, hasIngest(url))
	res = cli(t, "", "--database-url", url, "migrate", "--with", "ingest")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "applied ingest 0001_ingest\napplied ingest 0002_run_fails_with_its_flow_run\napplied ingest 0003_linguist_languages\n", res.stdout)
	require.True(t, hasIngest(url))
	res = cli(t, "", "--database-url", url, "migrate", "--with", "nope")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `--with "nope": the applications are: ingest`)

	// The first `worker ingest` installs it on a database the engine's
	// migrations alone made.
	url = emptyDatabase(t)
	res = cli(t, "", "--database-url", url, "migrate")
	require.Equal(t, 0, res.code, res.stderr)
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n"), 0o644))
	res = cli(t, "", "--database-url", url, "ingest", root)
	require.Equal(t, 0, res.code, res.stderr)
	require.True(t, hasIngest(url))
}
