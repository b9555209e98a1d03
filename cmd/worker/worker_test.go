package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/internal/render"
	"github.com/htdag/htdag/internal/testdb"
	"github.com/htdag/htdag/jobs"
	"github.com/htdag/htdag/migrations"
)

// The tests run the real binary as a subprocess, as users and scripts do, so
// that flags, exit codes, stdout/stderr separation and signal handling are
// what is tested. It is built once per test process, lazily.
var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "htdag-worker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// workerBinary builds cmd/worker (with -race when the tests have it, so the
// subprocesses are checked too) and returns its path.
func workerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		path := filepath.Join(binDir, "worker")
		args := []string{"build", "-o", path}
		if raceEnabled() {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binPath = path
	})
	require.NoError(t, buildErr)
	return binPath
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// diamondSpec is examples/diamond.json; d depends on b and c, both on a.
const diamondSpec = "../../examples/diamond.json"

// cliResult is one finished invocation of the binary.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs the binary with args (stdin from stdin) and returns its result.
// A deadline keeps a hung command from hanging the suite.
func cli(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "worker %v did not finish; stderr:\n%s", args, stderr.String())
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		require.NoError(t, err)
	}
	return res
}

// db returns the global flags that point the binary at pool's database. A
// small pool keeps parallel tests within the server's max_connections.
func db(pool *pgxpool.Pool, args ...string) []string {
	return append([]string{"--database-url", flowtest.DatabaseURL(pool), "--max-conns", "5"}, args...)
}

// startRun starts spec (JSON text) through `worker start -` and returns the
// printed run id.
func startRun(t *testing.T, pool *pgxpool.Pool, spec string) int64 {
	t.Helper()
	res := cli(t, spec, db(pool, "start", "-")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `^[0-9]+\n$`, res.stdout)
	id, err := strconv.ParseInt(strings.TrimSpace(res.stdout), 10, 64)
	require.NoError(t, err)
	return id
}

// workerProc is a `worker run` in the background.
type workerProc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	logs    bytes.Buffer  // everything it wrote to stderr
	ready   chan struct{} // closed at the "worker started" log line
	exited  chan struct{} // closed once it has exited and logs are complete
	waitErr error
}

func (w *workerProc) logText() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.logs.String()
}

// startWorker starts `worker run` on pool's database and returns once it
// logged that River has started. At cleanup it sends SIGTERM and requires a
// clean exit.
func startWorker(t *testing.T, pool *pgxpool.Pool, args ...string) *workerProc {
	t.Helper()
	return startWorkerCmd(t, exec.Command(workerBinary(t), append(db(pool, "run", "--max-conns", "10"), args...)...))
}

// startWorkerCmd is startWorker for a command the caller prepared (to run
// it as another user, say).
func startWorkerCmd(t *testing.T, cmd *exec.Cmd) *workerProc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	w := &workerProc{cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{})}
	require.NoError(t, cmd.Start())

	go func() {
		var readyOnce sync.Once
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Bytes()
			w.mu.Lock()
			w.logs.Write(line)
			w.logs.WriteByte('\n')
			w.mu.Unlock()
			var entry struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(line, &entry) == nil && entry.Message == "worker started" {
				readyOnce.Do(func() { close(w.ready) })
			}
		}
		// Wait only after every read from the pipe is done (os/exec rule).
		w.waitErr = cmd.Wait()
		close(w.exited)
	}()

	t.Cleanup(func() {
		select {
		case <-w.exited:
			return // the test stopped it itself
		default:
		}
		if code := w.stop(t); code != 0 {
			t.Errorf("worker exited with %d after SIGTERM; logs:\n%s", code, w.logText())
		}
	})

	select {
	case <-w.ready:
	case <-w.exited:
		t.Fatalf("worker exited before it started: %v; logs:\n%s", w.waitErr, w.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("worker did not start within 30s; logs:\n%s", w.logText())
	}
	return w
}

// stop sends SIGTERM and returns the exit code, failing the test if the
// process does not exit in time.
func (w *workerProc) stop(t *testing.T) int {
	t.Helper()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w.exited:
	case <-time.After(45 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
		t.Fatalf("worker did not exit within 45s of SIGTERM; logs:\n%s", w.logText())
	}
	var exitErr *exec.ExitError
	if errors.As(w.waitErr, &exitErr) {
		return exitErr.ExitCode()
	}
	require.NoError(t, w.waitErr)
	return 0
}

// emptyDatabase creates a database with no migrations at all (testdb's are
// already migrated) and returns its URL; it is dropped at cleanup.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	return testdb.Empty(t)
}

func TestMigrateAlreadyMigrated(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	for i := 0; i < 2; i++ {
		res := cli(t, "", db(pool, "migrate")...)
		require.Equal(t, 0, res.code, "run %d stderr: %s", i, res.stderr)
		require.Equal(t, "database is up to date\n", res.stdout)
	}
}

func TestMigrateFreshDatabaseConcurrently(t *testing.T) {
	t.Parallel()
	url := emptyDatabase(t)
	all, err := migrations.All()
	require.NoError(t, err)

	// Three migrators at once, as replicas booting together would be: the
	// advisory lock lets one apply everything and the others find it done.
	const n = 3
	results := make([]cliResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = cli(t, "", "--database-url", url, "migrate") })
	}
	wg.Wait()
	appliers := 0
	for i, res := range results {
		require.Equal(t, 0, res.code, "migrator %d stderr: %s", i, res.stderr)
		if strings.Contains(res.stdout, "applied flow") {
			appliers++
			for _, m := range all {
				require.Contains(t, res.stdout, fmt.Sprintf("applied flow %04d_%s\n", m.Version, m.Name))
			}
		} else {
			require.Equal(t, "database is up to date\n", res.stdout)
		}
	}
	require.Equal(t, 1, appliers, "exactly one migrator applies the migrations")

	res := cli(t, "", "--database-url", url, "migrate")
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Equal(t, "database is up to date\n", res.stdout)

	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var versions int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM flow.schema_migration").Scan(&versions))
	require.Equal(t, len(all), versions)
}

func TestUnmigratedDatabaseSaysToMigrate(t *testing.T) {
	t.Parallel()
	url := emptyDatabase(t)
	for _, tc := range []struct {
		args  []string
		stdin string
		code  int
	}{
		{[]string{"start", "-"}, `{"nodes": [{"id": "a", "kind": "noop"}]}`, 1},
		{[]string{"wait", "--timeout", "30s", "1"}, "", 2}, // fails at once, no hang
		{[]string{"status", "1"}, "", 1},
		{[]string{"run"}, "", 1},
	} {
		res := cli(t, tc.stdin, append([]string{"--database-url", url}, tc.args...)...)
		require.Equal(t, tc.code, res.code, "%v: stdout %q stderr %q", tc.args, res.stdout, res.stderr)
		require.Empty(t, res.stdout, "%v", tc.args)
		require.Contains(t, res.stderr, "run `worker migrate`", "%v", tc.args)
	}
}

func TestEndToEndDiamond(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	startWorker(t, pool)

	res := cli(t, "", db(pool, "start", diamondSpec)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `^[0-9]+\n$`, res.stdout, "start prints only the run id")
	runID, err := strconv.ParseInt(strings.TrimSpace(res.stdout), 10, 64)
	require.NoError(t, err)

	res = cli(t, "", db(pool, "wait", "--timeout", "30s", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	require.Len(t, lines, 2, "state, then output: %q", res.stdout)
	require.Equal(t, "completed", lines[0])
	require.True(t, json.Valid([]byte(lines[1])), "output line is JSON: %s", lines[1])

	run, err := flow.NewClient(pool, nil).GetRun(context.Background(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)
	var out map[string]jobs.EchoOutput
	require.NoError(t, json.Unmarshal(run.Output, &out))
	require.Contains(t, out, "d", "d is the only sink")
	require.Len(t, out, 1)
	require.Contains(t, out["d"].Parents, "b")
	require.Contains(t, out["d"].Parents, "c")
	require.JSONEq(t, `{"path": "/src"}`, string(out["d"].Input))

	res = cli(t, "", db(pool, "status", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^state\s+completed$`, res.stdout)
	for _, node := range []string{"a", "b", "c", "d"} {
		require.Regexp(t, regexp.MustCompile(`(?m)^`+node+`\s+\w+\s+completed\b`), res.stdout)
	}
	require.Regexp(t, `(?m)^d\s+echo\s+completed\s+output: \{`, res.stdout)
}

func TestStartInvalidSpec(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)

	notJSON := filepath.Join(t.TempDir(), "spec.json")
	require.NoError(t, os.WriteFile(notJSON, []byte(`{"nodes": [`), 0o600))

	cases := []struct {
		name, stdin, arg, problem string
	}{
		{"unknown dep", `{"nodes": [{"id": "a", "kind": "echo", "deps": ["x"]}]}`, "-", `node "a" depends on unknown node "x"`},
		{"cycle", `{"nodes": [{"id": "a", "kind": "echo", "deps": ["b"]}, {"id": "b", "kind": "echo", "deps": ["a"]}]}`, "-", "dependency cycle"},
		{"no nodes", `{"name": "empty", "nodes": []}`, "-", ""},
		{"not JSON", "", notJSON, "not valid JSON"},
	}
	for _, tc := range cases {
		res := cli(t, tc.stdin, db(pool, "start", tc.arg)...)
		require.Equal(t, 1, res.code, "%s: stdout %q stderr %q", tc.name, res.stdout, res.stderr)
		require.Empty(t, res.stdout, tc.name)
		require.Contains(t, res.stderr, "invalid workflow spec", tc.name)
		require.Contains(t, res.stderr, tc.problem, tc.name)
	}

	// Nothing was written by any of them.
	var runs, nodes int
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT (SELECT count(*) FROM flow.run), (SELECT count(*) FROM river_job)").Scan(&runs, &nodes))
	require.Zero(t, runs)
	require.Zero(t, nodes)

	res := cli(t, "", db(pool, "start", filepath.Join(t.TempDir(), "missing.json"))...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "no such file")
}

func TestWaitFailedRun(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	startWorker(t, pool)
	runID := startRun(t, pool, `{"name": "doomed", "nodes": [{"id": "f", "kind": "fail", "args": {"times": 5}, "max_attempts": 1}]}`)

	res := cli(t, "", db(pool, "wait", "--timeout", "30s", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 1, res.code, "stdout %q stderr %q", res.stdout, res.stderr)
	require.True(t, strings.HasPrefix(res.stdout, "failed\n"), "stdout: %q", res.stdout)

	res = cli(t, "", db(pool, "status", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^f\s+fail\s+discarded\s+error: fail: attempt 1 of 5 planned failures$`, res.stdout)
}

func TestWaitTimeoutAndErrors(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	// No worker: the run stays pending.
	runID := startRun(t, pool, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	id := strconv.FormatInt(runID, 10)

	begin := time.Now()
	res := cli(t, "", db(pool, "wait", "--timeout", "200ms", id)...)
	require.Equal(t, 2, res.code, "stdout %q stderr %q", res.stdout, res.stderr)
	require.Empty(t, res.stdout)
	require.Contains(t, res.stderr, fmt.Sprintf("run %d not finished after 200ms (state pending)", runID))
	require.Less(t, time.Since(begin), 20*time.Second)

	for _, args := range [][]string{
		{"wait", "--timeout", "5s", "999999999"}, // unknown run
		{"wait", "not-a-number"},
		{"wait"},
		{"wait", "--timeout", "soon", id},
	} {
		res := cli(t, "", db(pool, args...)...)
		require.Equal(t, 2, res.code, "%v: stdout %q stderr %q", args, res.stdout, res.stderr)
		require.Empty(t, res.stdout, "%v", args)
		require.NotEmpty(t, res.stderr, "%v", args)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	spec, err := os.ReadFile(diamondSpec)
	require.NoError(t, err)
	runID := startRun(t, pool, string(spec)) // no worker: a is available, the rest pending
	id := strconv.FormatInt(runID, 10)

	res := cli(t, "", db(pool, "status", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^run\s+`+id+`$`, res.stdout)
	require.Regexp(t, `(?m)^name\s+diamond$`, res.stdout)
	require.Regexp(t, `(?m)^state\s+pending$`, res.stdout)
	require.Regexp(t, `(?m)^nodes\s+4 \(pending 3, available 1; unfinished 4, failed 0\)$`, res.stdout)
	require.Regexp(t, `(?m)^NODE\s+KIND\s+STATE\s+CHILD RUN / ERROR / OUTPUT$`, res.stdout)
	require.Regexp(t, `(?m)^a\s+echo\s+available$`, res.stdout)
	require.Regexp(t, `(?m)^b\s+echo\s+pending$`, res.stdout)
	require.Regexp(t, `(?m)^c\s+sleep\s+pending$`, res.stdout)
	require.Regexp(t, `(?m)^d\s+echo\s+pending$`, res.stdout)
	require.NotRegexp(t, `(?m)^(parent|top run)\s`, res.stdout, "a top run has no parent lines")

	res = cli(t, "", db(pool, "status", "--json", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var doc render.StatusDoc
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc), res.stdout)
	require.Equal(t, runID, doc.Run.ID)
	require.Equal(t, "pending", doc.Run.State)
	require.Equal(t, map[string]int{"available": 1, "pending": 3}, doc.Run.NodeStates)
	require.JSONEq(t, `{"path": "/src"}`, string(doc.Run.Input))
	require.Nil(t, doc.Run.StartedAt)
	require.Nil(t, doc.Run.DurationMS)
	require.Len(t, doc.Nodes, 4)
	var ids []string
	for _, n := range doc.Nodes {
		ids = append(ids, n.NodeID)
	}
	require.Equal(t, []string{"a", "b", "c", "d"}, ids)
	require.Equal(t, []string{}, doc.Nodes[0].Parents)
	require.Equal(t, []string{"b", "c"}, doc.Nodes[3].Parents)

	res = cli(t, "", db(pool, "status", "999999999")...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "run not found")
}

// waitNodeState polls until the node reaches state: the worker is another
// process, so there is no event to wait on short of the database itself.
func waitNodeState(t *testing.T, pool *pgxpool.Pool, runID int64, node, state string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var got string
		err := pool.QueryRow(context.Background(),
			"SELECT state FROM flow.nodes WHERE run_id = $1 AND node_id = $2", runID, node).Scan(&got)
		return err == nil && got == state
	}, 30*time.Second, 10*time.Millisecond, "node %s never became %s", node, state)
}

func TestRunShutdownLetsRunningJobsFinish(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	w := startWorker(t, pool)
	// Started in-process: a subprocess could take longer to exit than the
	// job takes to run, and the test needs to catch the job running.
	runID, err := flow.NewClient(pool, nil).Start(context.Background(),
		flow.JSONSpec(`{"nodes": [{"id": "s", "kind": "sleep", "args": {"ms": 2000}}]}`))
	require.NoError(t, err)
	waitNodeState(t, pool, runID, "s", "running")

	require.Equal(t, 0, w.stop(t), "logs:\n%s", w.logText())
	require.Contains(t, w.logText(), `"message":"worker stopped"`)

	// The job finished inside the grace period, so the run is done.
	run, err := flow.NewClient(pool, nil).GetRun(context.Background(), runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)
}

func TestRunShutdownCancelsJobsAfterGrace(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	w := startWorker(t, pool, "--shutdown-timeout", "100ms")
	runID, err := flow.NewClient(pool, nil).Start(context.Background(),
		flow.JSONSpec(`{"nodes": [{"id": "s", "kind": "sleep", "args": {"ms": 600000}}]}`))
	require.NoError(t, err)
	waitNodeState(t, pool, runID, "s", "running")

	require.Equal(t, 0, w.stop(t), "logs:\n%s", w.logText())
	require.Contains(t, w.logText(), "grace period over")

	// River put the cancelled job back as available, without spending an
	// attempt or recording an error, for any worker to take; the run goes on.
	var state string
	var attempt int
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT state, attempt FROM flow.nodes WHERE run_id = $1", runID).Scan(&state, &attempt))
	require.Equal(t, "available", state)
	require.Zero(t, attempt)
	run, err := flow.NewClient(pool, nil).GetRun(context.Background(), runID)
	require.NoError(t, err)
	require.False(t, run.State.Finished(), "run state %s", run.State)
}

func TestRunRejectsBadFlagsBeforeConnecting(t *testing.T) {
	t.Parallel()
	// Port 1 refuses connections: reaching the database would be an error
	// of its own, so the flag errors below prove no connection was tried.
	url := "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--queue", "bogus"}, "NAME=MAXWORKERS"},
		{[]string{"run", "--queue", "default=0"}, "NAME=MAXWORKERS"},
		{[]string{"run", "--queue", "default=5", "--max-workers", "3"}, "give one"},
		{[]string{"run", "--shutdown-timeout", "-1s"}, "must not be negative"},
		{[]string{"run", "--log-format", "xml"}, "want json or console"},
	} {
		res := cli(t, "", append([]string{"--database-url", url}, tc.args...)...)
		require.Equal(t, 1, res.code, "%v: stderr %q", tc.args, res.stderr)
		require.Contains(t, res.stderr, tc.want, "%v", tc.args)
	}
}

func TestQueueConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		queues        []string
		maxWorkers    int
		maxWorkersSet bool
		want          map[string]int
		wantErr       string
	}{
		{name: "default", maxWorkers: flow.DefaultMaxWorkers, want: map[string]int{"default": flow.DefaultMaxWorkers}},
		{name: "max workers", maxWorkers: 7, maxWorkersSet: true, want: map[string]int{"default": 7}},
		{name: "named queues only", queues: []string{"a=2", "b=3"}, maxWorkers: flow.DefaultMaxWorkers, want: map[string]int{"a": 2, "b": 3}},
		{name: "named queues and default", queues: []string{"a=2"}, maxWorkers: 9, maxWorkersSet: true, want: map[string]int{"a": 2, "default": 9}},
		{name: "duplicate", queues: []string{"a=2", "a=3"}, maxWorkers: 1, wantErr: "given twice"},
		{name: "no count", queues: []string{"a"}, maxWorkers: 1, wantErr: "NAME=MAXWORKERS"},
		{name: "zero max workers", maxWorkers: 0, maxWorkersSet: true, wantErr: "at least 1"},
	} {
		o := runOptions{queues: tc.queues, maxWorkers: tc.maxWorkers}
		got, err := o.queueConfig(tc.maxWorkersSet)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		gotWorkers := map[string]int{}
		for name, q := range got {
			gotWorkers[name] = q.MaxWorkers
		}
		require.Equal(t, tc.want, gotWorkers, tc.name)
	}
}

// `worker bench --in-place` runs the chosen shapes on an empty migrated
// database and prints a JSON report whose runs all completed (no timing is
// asserted: speed is for `make bench`, not for tests).
func TestBenchQuickJSON(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	res := cli(t, "", db(pool, "bench", "--in-place", "--quick", "--shape", "chain,fanout", "--json")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var rep struct {
		Results []struct {
			Shape string `json:"shape"`
			Nodes int    `json:"nodes"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep), "stdout: %s", res.stdout)
	require.Len(t, rep.Results, 2)
	require.Equal(t, "chain", rep.Results[0].Shape)
	require.Equal(t, "fanout", rep.Results[1].Shape)
	for _, r := range rep.Results {
		require.Positive(t, r.Nodes, r.Shape)
	}
	var jobs int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM river_job").Scan(&jobs))
	require.Zero(t, jobs, "bench leaves the tables empty")
}

// `worker cancel` cancels an unfinished run and says when a run had
// already finished.
func TestCancelCommand(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	runID := startRun(t, pool, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)

	res := cli(t, "", db(pool, "cancel", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Contains(t, res.stdout, fmt.Sprintf("run %d cancelled", runID))
	res = cli(t, "", db(pool, "wait", "--timeout", "30s", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 1, res.code, "a cancelled run waits with exit 1; stderr: %s", res.stderr)
	require.Contains(t, res.stdout, "cancelled")

	res = cli(t, "", db(pool, "cancel", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Equal(t, fmt.Sprintf("run %d is already cancelled; nothing to cancel\n", runID), res.stdout)

	// `worker retry` resumes it; a second retry finds it running.
	res = cli(t, "", db(pool, "retry", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Equal(t, fmt.Sprintf("run %d resumed: 2 node(s) reset\n", runID), res.stdout)
	res = cli(t, "", db(pool, "retry", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Equal(t, fmt.Sprintf("run %d is running; nothing to retry\n", runID), res.stdout)
}

// `worker doctor` says when no live worker serves what waits, finds nothing
// on a healthy database, and exits 1 listing the problem when a count
// disagrees with the jobs.
func TestDoctor(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	runID := startRun(t, pool, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)

	res := cli(t, "", db(pool, "doctor")...)
	require.Equal(t, 1, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `a\s+fleet\s+available in queue "default", which no live worker serves`, res.stdout)

	flowtest.JoinFleet(t, pool, nil)
	res = cli(t, "", db(pool, "doctor")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Equal(t, "no problems found\n", res.stdout)

	_, err := pool.Exec(context.Background(), `UPDATE flow.run SET failed = 1, unfinished = 1 WHERE id = $1`, runID)
	require.NoError(t, err)
	res = cli(t, "", db(pool, "doctor")...)
	require.Equal(t, 1, res.code, "stderr: %s", res.stderr)
	require.Contains(t, res.stdout, "unfinished is 1 but 2 nodes are not finished")
	require.Contains(t, res.stdout, "failed is 1 but 0 nodes are cancelled or discarded")
}

// `worker runs` lists runs newest first, filters by state, and prints JSON
// with --json; the other commands' --json outputs parse.
func TestRunsAndJSONOutputs(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	first := startRun(t, pool, `{"name": "first", "nodes": [{"id": "a", "kind": "noop"}]}`)
	res := cli(t, `{"name": "second", "nodes": [{"id": "a", "kind": "noop"}]}`, db(pool, "start", "--json", "-")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var started struct {
		RunID int64 `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &started))
	require.Greater(t, started.RunID, first)

	res = cli(t, "", db(pool, "cancel", "--json", strconv.FormatInt(first, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.JSONEq(t, fmt.Sprintf(`{"run_id": %d, "cancelled": true, "state": "cancelled"}`, first), res.stdout)

	res = cli(t, "", db(pool, "runs")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Len(t, lines, 3)
	require.Regexp(t, `^ID\s+NAME\s+STATE`, lines[0])
	require.Regexp(t, fmt.Sprintf(`^%d\s+second\s+pending`, started.RunID), lines[1])
	require.Regexp(t, fmt.Sprintf(`^%d\s+first\s+cancelled`, first), lines[2])

	res = cli(t, "", db(pool, "runs", "--state", "cancelled", "--json")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var runs []struct {
		ID    int64  `json:"id"`
		State string `json:"state"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &runs))
	require.Equal(t, []struct {
		ID    int64  `json:"id"`
		State string `json:"state"`
	}{{first, "cancelled"}}, runs)

	res = cli(t, "", db(pool, "runs", "--state", "bogus")...)
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, `--state "bogus"`)

	flowtest.JoinFleet(t, pool, nil)
	res = cli(t, "", db(pool, "doctor", "--json")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.JSONEq(t, `[]`, res.stdout)
}

// `worker run --run-retention` deletes whole finished runs older than the
// retention, and leaves the others.
func TestRunRetention(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	ctx := context.Background()
	finished := startRun(t, pool, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	_, err := pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE metadata ->> 'flow_run' = $1::bigint::text`, finished)
	require.NoError(t, err)
	open := startRun(t, pool, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "sleep", "args": {"ms": 3600000}, "deps": ["a"]}]}`)

	w := startWorker(t, pool, "--run-retention", "1ms")
	defer w.stop(t)
	require.Eventually(t, func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM flow.run WHERE id = $1`, finished).Scan(&n)
		return n == 0
	}, 30*time.Second, 10*time.Millisecond, "the finished run was never deleted")
	var jobs, runs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM river_job WHERE metadata ->> 'flow_run' = $1::bigint::text),
		(SELECT count(*) FROM flow.run WHERE id = $2)`, finished, open).Scan(&jobs, &runs))
	require.Zero(t, jobs, "the finished run's jobs went with it")
	require.Equal(t, 1, runs, "the unfinished run stays")
}
