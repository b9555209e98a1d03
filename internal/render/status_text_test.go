package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// statusText renders run's tree with v and returns the output.
func statusText(t *testing.T, run *flow.Run, rows []*flow.TreeNode, v View) string {
	t.Helper()
	var b bytes.Buffer
	now := created.Add(3 * time.Second)
	require.NoError(t, StatusText(&b, NewTree(run, rows), v, now))
	return b.String()
}

// after returns out from its first line starting with prefix.
func after(t *testing.T, out, prefix string) string {
	t.Helper()
	i := strings.Index(out, "\n"+prefix)
	require.GreaterOrEqual(t, i, 0, "no line starting with %q in:\n%s", prefix, out)
	return out[i+1:]
}

// The status of a three-level run: its header, its tree indented by level
// with each child run's nodes under the node it runs for and the failing
// element's error on its line, and node counts by state at every level.
func TestStatusTextThreeLevels(t *testing.T) {
	t.Parallel()
	run, rows := threeLevels(5, 3)
	out := statusText(t, run, rows, View{MaxNodes: 20, Depth: DepthAll})

	require.True(t, strings.HasPrefix(out, "run       1\nname      three levels\nstate     running\n"+
		"nodes     3 (available 1, cancelled 1, discarded 1; unfinished 1, failed 2)\n"), out)
	require.Regexp(t, `(?m)^created   2025-01-02 \d\d:04:05\.000 \S+\nstarted   .*\nfinished  -\nduration  2s so far\n`+
		`input     \{"path":"/src"\}\noutput    -\n\nNODE`, out)
	require.NotRegexp(t, `(?m)^(parent|top run)\s`, out, "a top run has no parent lines")

	require.Equal(t, `NODE         KIND           STATE      CHILD RUN / ERROR / OUTPUT
sub          flow.workflow  discarded  → run 2 failed: 1 completed, 1 cancelled, 1 discarded
  gen        noop           completed  output: [0,1,2,3,4]
  m          flow.map       discarded  → run 3 failed: 4 completed, 1 discarded
    0        noop           completed
    1        noop           completed
    2        noop           completed
    3        noop           discarded  error: square: planned failure at 3
    4        noop           completed
  total      noop           cancelled  error: htdag: cancelled because an upstream node failed
after        noop           cancelled  error: htdag: cancelled because an upstream node failed
independent  noop           available

DEPTH  RUNS  NODES  AVAILABLE  COMPLETED  CANCELLED  DISCARDED
0         1      3          1          -          1          1
1         1      3          -          1          1          1
2         1      5          -          4          -          1
all       3     11          1          5          2          3
`, after(t, out, "NODE"), "nothing was left out, so no hint follows")
}

// A child run's status says where it sits; its tree starts at it.
func TestStatusTextChildRun(t *testing.T) {
	t.Parallel()
	run, rows := mapRunTree(threeLevels(5, 3))
	out := statusText(t, run, rows, View{MaxNodes: 20, Depth: DepthAuto})
	require.Regexp(t, `(?m)^parent    run 2, node "m"\ntop run   1 \(this run is at depth 2\)\nnodes     5 \(completed 4, discarded 1; unfinished 0, failed 1\)$`, out)
	require.Regexp(t, `(?m)^3\s+noop\s+discarded\s+error: square: planned failure at 3$`, out)
	require.Equal(t, "DEPTH  RUNS  NODES  COMPLETED  DISCARDED\n2         1      5          4          1\n", after(t, out, "DEPTH"),
		"one level, at depth 2")
}

// Depth stops the listing at a level: the node of a run not listed counts
// it and what lies below it, and a note points at the first failure below.
func TestStatusTextDepth(t *testing.T) {
	t.Parallel()
	run, rows := threeLevels(5, 3)

	out := statusText(t, run, rows, View{MaxNodes: 20, Depth: 1})
	require.True(t, strings.HasPrefix(after(t, out, "  m "), `  m          flow.map       discarded  → run 3 failed: 4 completed, 1 discarded
    first failure below: sub/m/3 (run 3) discarded: square: planned failure at 3
  total      noop`), out)
	require.NotRegexp(t, `(?m)^    4\s`, out)
	require.Regexp(t, `(?m)^2\s+1\s+5\s`, out, "the per-level table still counts every level")
	require.True(t, strings.HasSuffix(out, "\nlisted 1 of the 2 levels below run 1 (--depth N or all for more)\n--json prints the whole tree\n"), out)

	out = statusText(t, run, rows, View{MaxNodes: 20, Depth: 0})
	require.Regexp(t, `(?m)^sub\s+flow\.workflow\s+discarded\s+→ run 2 failed: 1 completed, 1 cancelled, 1 discarded; \+1 run below: 4 completed, 1 discarded$`, out)
	require.NotRegexp(t, `(?m)^  gen\s`, out)
	require.Contains(t, out, "listed 0 of the 2 levels below run 1")
}

// DepthAuto lists as many levels as fit about a screen, and says so.
func TestStatusTextAutoDepth(t *testing.T) {
	t.Parallel()
	run, rows := threeLevels(30, 7, 12)
	// With every node listed, level 2 alone has 30 lines: too many.
	out := statusText(t, run, rows, View{MaxNodes: 0, Depth: DepthAuto})
	require.Regexp(t, `(?m)^  m\s+flow\.map\s+pending\s+→ run 3 running: 1 running, 28 completed, 1 discarded\n    first failure below: sub/m/7 \(run 3\) discarded`, out)
	require.Contains(t, out, "\nlisted 1 of the 2 levels below run 1 (--depth auto: what fits a screen; --depth N or all for more)\n")
	// At most 20 nodes a run, the whole tree fits.
	out = statusText(t, run, rows, View{MaxNodes: 20, Depth: DepthAuto})
	require.Regexp(t, `(?m)^    12\s+noop\s+running$`, out)
	require.NotContains(t, out, "levels below")
}

// A run with more nodes than MaxNodes lists its failed and unfinished nodes
// first, then others in spec order up to the limit, and counts the rest.
func TestStatusTextMaxNodes(t *testing.T) {
	t.Parallel()
	run, rows := threeLevels(30, 7, 12)

	out := statusText(t, run, rows, View{MaxNodes: 20, Depth: DepthAll})
	want := []string{
		"  m          flow.map       pending    → run 3 running: 1 running, 28 completed, 1 discarded",
		"    7        noop           discarded  error: square: planned failure at 7",
		"    12       noop           running",
	}
	for _, id := range []string{"0", "1", "2", "3", "4", "5", "6", "8", "9", "10", "11", "13", "14", "15", "16", "17", "18", "19"} {
		want = append(want, "    "+id+strings.Repeat(" ", 9-len(id))+"noop           completed")
	}
	want = append(want, "    … 10 more: 10 completed", "  total      noop           pending", "")
	require.True(t, strings.HasPrefix(after(t, out, "  m "), strings.Join(want, "\n")), out)
	require.Regexp(t, `(?m)^DEPTH\s+RUNS\s+NODES\s+PENDING\s+AVAILABLE\s+RUNNING\s+COMPLETED\s+DISCARDED\n(.*\n){2}2\s+1\s+30\s+-\s+-\s+1\s+28\s+1$`, out,
		"the table counts every node")
	require.True(t, strings.HasSuffix(out, "\nlisted at most 20 nodes per run, failed and unfinished first (--max-nodes N, 0 for all)\n--json prints the whole tree\n"), out)

	// Every run is cut to 2: sub's run lists m (waiting for its child run)
	// and total (waiting for m), not gen (completed); the top run sub and
	// independent (available), not after (waiting for sub).
	out = statusText(t, run, rows, View{MaxNodes: 2, Depth: DepthAll})
	require.Equal(t, `NODE         KIND           STATE      CHILD RUN / ERROR / OUTPUT
sub          flow.workflow  pending    → run 2 running: 2 pending, 1 completed
  m          flow.map       pending    → run 3 running: 1 running, 28 completed, 1 discarded
    7        noop           discarded  error: square: planned failure at 7
    12       noop           running
    … 28 more: 28 completed
  total      noop           pending
  … 1 more: 1 completed
independent  noop           available
… 1 more: 1 pending
`, out[strings.Index(out, "NODE"):strings.Index(out, "\n\nDEPTH")+1])

	out = statusText(t, run, rows, View{MaxNodes: 0, Depth: DepthAll})
	require.Regexp(t, `(?m)^    29\s+noop\s+completed$`, out)
	require.NotContains(t, out, "more:")
	require.NotContains(t, out, "listed")
}

// Long lines are cut to the terminal's width, or to 240 runes on a pipe,
// and a node's output to 60 runes.
func TestStatusTextWidth(t *testing.T) {
	t.Parallel()
	run := &flow.Run{ID: 9, State: flow.RunStateFailed, CreatedAt: created, TopRunID: 9,
		Output: []byte(`{"out": "` + strings.Repeat("o", 300) + `"}`)}
	rows := []*flow.TreeNode{
		{RunID: 9, Path: "a", NodeID: "a", Kind: "fail", State: "discarded", Attempt: 3, LastError: strings.Repeat("x", 400)},
		{RunID: 9, Path: "b", NodeID: "b", Kind: "echo", State: "completed", Output: []byte(`{"v": "` + strings.Repeat("y", 100) + `"}`)},
	}
	out := statusText(t, run, rows, View{Width: 80})
	line := func(prefix string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("no line %q in:\n%s", prefix, out)
		return ""
	}
	require.Len(t, []rune(line("a ")), 80)
	require.Contains(t, line("a "), "error (attempt 3): xxx")
	require.True(t, strings.HasSuffix(line("a "), "x…"))
	require.Len(t, []rune(line("output")), len("output    ")+70)

	out = statusText(t, run, rows, View{})
	require.Len(t, []rune(line("a ")), 240)
	require.Len(t, []rune(line("output")), len("output    ")+240)
	require.Len(t, []rune(strings.TrimPrefix(line("b "), "b     echo  completed  output: ")), 60)
}

func TestParseDepth(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"0": 0, "3": 3, "all": DepthAll, "auto": DepthAuto} {
		got, err := ParseDepth(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"-1", "deep", "", "1.5"} {
		_, err := ParseDepth(bad)
		require.ErrorContains(t, err, `--depth "`+bad+`": want a number of levels`)
	}
}

// A run with a deadline shows it, and a cancelled run why it was cancelled;
// a run without either shows neither line.
func TestStatusTextDeadlineAndCancelReason(t *testing.T) {
	t.Parallel()
	run, rows := threeLevels(5, 3)
	out := statusText(t, run, rows, View{MaxNodes: 20, Depth: DepthAuto})
	require.NotRegexp(t, `(?m)^(deadline|cancelled) `, out)

	deadline := created.Add(2 * time.Second)
	run.TimeoutMS, run.DeadlineAt = 2000, &deadline
	run.State, run.CancelReason = flow.RunStateCancelled, "run 1 passed its deadline (timeout_ms 2000) and was cancelled"
	out = statusText(t, run, rows, View{MaxNodes: 20, Depth: DepthAuto})
	require.Regexp(t, `(?m)^deadline\s+\S+ \S+ \S+ \(timeout_ms 2000\)\ncancelled\s+run 1 passed its deadline \(timeout_ms 2000\) and was cancelled$`, out)
}

// The header counts the tree's nodes waiting for a concurrency slot, in all
// and per key; without any, there is no such line.
func TestStatusTextSlotWaits(t *testing.T) {
	t.Parallel()
	run, rows := threeLevels(5, 3)
	tree := NewTree(run, rows)
	require.Equal(t, []int64{1, 2, 3}, tree.RunIDs())
	tree.SetSlotWaits(map[string]int{"tenant-b": 1, "tenant-a": 2})
	var b bytes.Buffer
	require.NoError(t, StatusText(&b, tree, View{MaxNodes: 20, Depth: DepthAll}, created.Add(3*time.Second)))
	require.Regexp(t, `(?m)^nodes     .*\nslots     3 nodes waiting for a concurrency slot \("tenant-a" 2, "tenant-b" 1\)\ncreated `, b.String())

	require.NotContains(t, statusText(t, run, rows, View{MaxNodes: 20, Depth: DepthAll}), "slots")
}
