package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/ingest"
	"github.com/htdag/htdag/internal/testdb"
)

// copyTree copies the fixture tree to a directory the test may change.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	}))
	return dst
}

func TestIngestWaitPrintsChangesAndSummary(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	startWorker(t, pool)
	root := copyTree(t, filepath.Join("..", "..", "ingest", "testdata"))

	res := cli(t, "", db(pool, "ingest", root, "--codebase", "fixture", "--wait")...)
	require.Equal(t, 0, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	require.Contains(t, res.stdout, "9 files walked: 4 added, 0 modified, 0 unchanged, 0 removed, 5 skipped")
	require.Contains(t, res.stdout, "lines +109 -0, symbols +16 -0")
	require.Contains(t, res.stdout, "first run of this codebase")
	require.Contains(t, res.stdout, "skipped: ignored by .gitignore 2; binary 1; empty 1; extension not on the allow-list 1")
	require.Contains(t, res.stdout, "not entered: build, internal/vendor")
	require.Regexp(t, `(?m)^go\s+2\s+70\s+11$`, res.stdout)
	require.Regexp(t, `(?m)^total\s+4\s+109\s+16$`, res.stdout)
	// Not a terminal: progress lines, the last one complete.
	require.Regexp(t, `(?m)^\[#{24}\] 9/9 files 100%`, res.stderr)

	// Change one file, delete another: the report lists both.
	p := filepath.Join(root, "main.go")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(data), "func main() {", "func helper() {}\n\nfunc main() {", 1)), 0o644))
	require.NoError(t, os.Remove(filepath.Join(root, "util", "strings.go")))

	res = cli(t, "", db(pool, "ingest", root, "--codebase", "fixture", "--wait")...)
	require.Equal(t, 0, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	require.Contains(t, res.stdout, "8 files walked: 0 added, 1 modified, 2 unchanged, 1 removed, 5 skipped")
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
	require.Equal(t, 3, doc.Unchanged)
	require.Equal(t, int64(2), doc.PreviousRun)
	require.Empty(t, doc.Changes)
}

func TestIngestWithoutWaitPrintsTheFlowRun(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
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
