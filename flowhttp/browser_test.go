//go:build browser

// The browser tests drive headless Chromium (Debian's package) over the run
// pages. They run with -tags browser, in `make test-browser`, which
// installs Chromium when it can and fetches Mermaid for the Mermaid check;
// without Chromium they skip, saying so. With HTDAG_SCREENSHOT_DIR set they
// write the README's screenshots there (`make screenshots`).

package flowhttp_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// browser returns a chromedp context on headless Chromium, or skips.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("HTDAG_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Skip("no Chromium: `apt-get install chromium` (make test-browser does it as root), or set HTDAG_CHROMIUM")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1400, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	require.NoError(t, chromedp.Do(ctx), "starting Chromium at %s", path)
	return ctx
}

// drawn is what the page drew: nodes by "run/node" key with their state,
// and edges as "from -> to".
type drawn struct {
	Nodes    map[string]string `json:"nodes"`
	Edges    []string          `json:"edges"`
	Clusters int               `json:"clusters"`
	Ready    string            `json:"ready"`
	State    string            `json:"state"`
}

const readDrawing = `(() => {
  const nodes = {};
  document.querySelectorAll("g.node").forEach(g => { nodes[g.dataset.key] = g.dataset.state; });
  const edges = [...document.querySelectorAll("path.edge")].map(p => p.dataset.from + " -> " + p.dataset.to);
  const st = document.getElementById("run-state");
  return {nodes, edges, clusters: document.querySelectorAll("g.cluster").length,
          ready: document.body.dataset.ready || "", state: st ? st.textContent : ""};
})()`

func read(t *testing.T, ctx context.Context) drawn {
	t.Helper()
	d, err := chromedp.Run(ctx, chromedp.Evaluate[drawn](readDrawing))
	require.NoError(t, err)
	return d
}

// openRun loads /runs/{id}[?query] and waits until the page drew it.
func openRun(t *testing.T, ctx context.Context, b *bundle, id int64, query string) drawn {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/runs/%d%s", b.http.URL, id, query)),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`))))
	return read(t, ctx)
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("HTDAG_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG")
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}

func key(run int64, node string) string { return fmt.Sprintf("%d/%s", run, node) }

// The page of examples/hierarchy.json draws its five nodes and five edges
// with their states; expanding draws every child run as a cluster with its
// own nodes and edges, and the dashed edges into it.
func TestBrowserDrawsHierarchy(t *testing.T) {
	ctx := browser(t)
	b := setup(t)
	spec, err := os.ReadFile("../examples/hierarchy.json")
	require.NoError(t, err)
	run := b.run(t, string(spec))
	require.Equal(t, flow.RunStateCompleted, run.State)

	d := openRun(t, ctx, b, run.ID, "")
	require.Equal(t, map[string]string{
		key(run.ID, "plan"): "completed", key(run.ID, "build"): "completed", key(run.ID, "shards"): "completed",
		key(run.ID, "per_shard"): "completed", key(run.ID, "done"): "completed",
	}, d.Nodes)
	require.ElementsMatch(t, []string{
		key(run.ID, "plan") + " -> " + key(run.ID, "build"), key(run.ID, "plan") + " -> " + key(run.ID, "shards"),
		key(run.ID, "shards") + " -> " + key(run.ID, "per_shard"), key(run.ID, "build") + " -> " + key(run.ID, "done"),
		key(run.ID, "per_shard") + " -> " + key(run.ID, "done"),
	}, d.Edges)
	require.Equal(t, "completed", d.State)

	// Every run of the tree, expanded.
	var runs int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM flow.run WHERE root_run_id = $1`, run.ID).Scan(&runs))
	var nodes int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM flow.tree($1)`, run.ID).Scan(&nodes))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#expand-all")),
		voidOf(chromedp.Poll[bool](fmt.Sprintf(`document.querySelectorAll("g.cluster").length == %d`, runs), chromedp.WithPollingTimeout(20*time.Second)))))
	d = read(t, ctx)
	require.Len(t, d.Nodes, nodes, "every node of the tree")
	for k, state := range d.Nodes {
		require.Equal(t, "completed", state, k)
	}
	var build int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id FROM flow.run WHERE parent_run_id = $1 AND name = 'build'`, run.ID).Scan(&build))
	require.Contains(t, d.Edges, key(build, "compile")+" -> "+key(build, "report"))
	require.Contains(t, d.Edges, key(run.ID, "build")+" -> "+key(build, "compile"), "into the child run")
}

// A run page follows a running run until it finishes, without a reload.
func TestBrowserFollowsARunningRun(t *testing.T) {
	ctx := browser(t)
	b := setup(t)
	id, err := b.flow.Start(b.ctx, flow.JSONSpec(`{"nodes": [{"id": "slow", "kind": "sleep", "args": {"ms": 2500}},
		{"id": "after", "kind": "noop", "deps": ["slow"]}]}`))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		r, err := b.flow.GetRun(b.ctx, id)
		return err == nil && r.State == flow.RunStateRunning
	}, 10*time.Second, 10*time.Millisecond)
	d := openRun(t, ctx, b, id, "")
	require.Equal(t, "running", d.State)
	require.Equal(t, "running", d.Nodes[key(id, "slow")])
	require.Equal(t, "pending", d.Nodes[key(id, "after")])
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("run-state").textContent == "completed"`,
		chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err)
	d = read(t, ctx)
	require.Equal(t, "completed", d.Nodes[key(id, "after")])
}

// A failed hierarchical run shows where it failed: the discarded task in its
// child run, the sub-workflow node discarded, the nodes below cancelled, and
// the task's error and River UI link in its details. Screenshot:
// docs/run-failed-hierarchy.png.
func TestBrowserShowsAFailedHierarchy(t *testing.T) {
	ctx := browser(t)
	b := setup(t)
	run := b.run(t, `{"name": "release", "nodes": [
		{"id": "fetch", "kind": "echo"},
		{"id": "build", "deps": ["fetch"], "workflow": {"name": "build", "nodes": [
			{"id": "compile", "kind": "sleep", "args": {"ms": 30}},
			{"id": "test", "kind": "fail", "args": {"times": 9}, "max_attempts": 2, "deps": ["compile"]},
			{"id": "package", "kind": "noop", "deps": ["test"]}]}},
		{"id": "docs", "kind": "sleep", "args": {"ms": 20}, "deps": ["fetch"]},
		{"id": "publish", "kind": "noop", "deps": ["build", "docs"]},
		{"id": "announce", "kind": "noop", "deps": ["publish"]}]}`)
	require.Equal(t, flow.RunStateFailed, run.State)
	var child int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id FROM flow.run WHERE parent_run_id = $1`, run.ID).Scan(&child))

	d := openRun(t, ctx, b, run.ID, "?expand=all")
	require.Equal(t, 1, d.Clusters)
	require.Equal(t, map[string]string{
		key(run.ID, "fetch"): "completed", key(run.ID, "build"): "discarded", key(run.ID, "docs"): "completed",
		key(run.ID, "publish"): "cancelled", key(run.ID, "announce"): "cancelled",
		key(child, "compile"): "completed", key(child, "test"): "discarded", key(child, "package"): "cancelled",
	}, d.Nodes)
	require.Equal(t, "failed", d.State)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`g.node[data-key="%s"]`, key(child, "test")))),
		chromedp.WaitVisible(chromedp.CSS("#details pre"))))
	details, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#details")))
	require.NoError(t, err)
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#river-ui-job"), "href"))
	require.NoError(t, err)
	link := href.Value
	require.Contains(t, details, "attempt 2/2")
	require.Contains(t, details, "fail")
	require.Regexp(t, `^/riverui/jobs/\d+$`, link)
	screenshot(t, ctx, "run-failed-hierarchy.png")
}

// Screenshot of a 1 → 20 → 1 run: docs/run-fanout.png.
func TestBrowserFanOut(t *testing.T) {
	ctx := browser(t)
	b := setup(t)
	nodes := []string{`{"id": "split", "kind": "echo"}`}
	deps := make([]string, 20)
	for i := range 20 {
		id := fmt.Sprintf("part-%02d", i)
		nodes = append(nodes, fmt.Sprintf(`{"id": %q, "kind": "sleep", "args": {"ms": %d}, "deps": ["split"]}`, id, 5+i*3))
		deps[i] = fmt.Sprintf("%q", id)
	}
	nodes = append(nodes, `{"id": "join", "kind": "echo", "deps": [`+strings.Join(deps, ",")+`]}`)
	run := b.run(t, `{"name": "fan-out", "nodes": [`+strings.Join(nodes, ",")+`]}`)
	require.Equal(t, flow.RunStateCompleted, run.State)
	d := openRun(t, ctx, b, run.ID, "")
	require.Len(t, d.Nodes, 22)
	require.Len(t, d.Edges, 40)
	screenshot(t, ctx, "run-fanout.png")
}

// `worker status --format mermaid` of examples/diamond.json is accepted by
// Mermaid's own parser and renders to an SVG with its four nodes. Mermaid
// comes from HTDAG_MERMAID_JS (make test-browser fetches it with npm).
func TestBrowserMermaidRenders(t *testing.T) {
	mermaidJS := os.Getenv("HTDAG_MERMAID_JS")
	if mermaidJS == "" {
		t.Skip("HTDAG_MERMAID_JS is not set: make test-browser fetches Mermaid with npm and sets it")
	}
	lib, err := os.ReadFile(mermaidJS)
	require.NoError(t, err)
	ctx := browser(t)
	b := setup(t)
	spec, err := os.ReadFile("../examples/diamond.json")
	require.NoError(t, err)
	run := b.run(t, string(spec))
	nodes, err := b.flow.Nodes(b.ctx, run.ID)
	require.NoError(t, err)
	var text bytes.Buffer
	require.NoError(t, render.StatusMermaid(&text, &render.Graph{Run: run, Nodes: nodes}, time.Now()))

	type mermaidResult struct {
		Parsed bool   `json:"parsed"`
		Nodes  int    `json:"nodes"`
		Edges  int    `json:"edges"`
		Error  string `json:"error"`
	}
	script := fmt.Sprintf(`(async () => {
	  try {
	    mermaid.initialize({startOnLoad: false});
	    const parsed = await mermaid.parse(%q);
	    const {svg} = await mermaid.render("diamond", %q);
	    document.body.innerHTML = svg;
	    return {parsed: !!parsed, nodes: document.querySelectorAll("#diamond g.node").length,
	            edges: document.querySelectorAll("#diamond path.flowchart-link").length, error: ""};
	  } catch (e) { return {parsed: false, nodes: 0, edges: 0, error: String(e)}; }
	})()`, text.String(), text.String())
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	_, err = chromedp.Run(ctx, chromedp.Evaluate[*runtime.RemoteObject](string(lib)))
	require.NoError(t, err, "loading Mermaid from %s", mermaidJS)
	result, err := chromedp.Run(ctx, chromedp.Evaluate[mermaidResult](script, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Empty(t, result.Error, "mermaid:\n%s", text.String())
	require.True(t, result.Parsed)
	require.Equal(t, 4, result.Nodes)
	require.Equal(t, 4, result.Edges)
}

// voidOf runs a and drops its value, to chain it in chromedp.Do.
func voidOf[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}
