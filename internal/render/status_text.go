package render

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/htdag/htdag/flow"
)

// View says how much of a tree StatusText prints.
type View struct {
	// MaxNodes is how many nodes of each run are listed, failed and
	// unfinished ones first; the others are counted on one line. 0: all.
	MaxNodes int
	// Depth is how many levels of child runs below the run asked for are
	// listed (0: the run's own nodes); deeper runs are counted on their
	// parent node's line. DepthAll: every level; DepthAuto: as many as fit
	// about a screen.
	Depth int
	// Width is the terminal's width in columns, to cut long lines to; 0
	// (unknown, as on a pipe) cuts them at 240 runes.
	Width int
}

// View.Depth's words (--depth all and --depth auto).
const (
	DepthAll  = -1
	DepthAuto = -2
)

// ParseDepth reads a --depth value: a number of levels, "all" (DepthAll) or
// "auto" (DepthAuto).
func ParseDepth(s string) (int, error) {
	switch s {
	case "all":
		return DepthAll, nil
	case "auto":
		return DepthAuto, nil
	}
	d, err := strconv.Atoi(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--depth %q: want a number of levels (0: the run's own nodes), all or auto", s)
	}
	return d, nil
}

// maxOutputWidth caps a node's output in the tree: outputs can be big, and
// --json gives them whole.
const maxOutputWidth = 60

// autoTreeLines is how many tree lines DepthAuto aims for: a screenful with
// the header and the per-level table.
const autoTreeLines = 30

// StatusText prints what `worker status` shows people: the run (for a child
// run, also its parent run and node and its top run), its tree as an
// indented list of nodes, each child run's nodes under the node it runs
// for, then runs and nodes by state at each depth, then what v left out.
// Every value from the database is printed through Clean.
func StatusText(w io.Writer, t *Tree, v View, now time.Time) error {
	auto := v.Depth == DepthAuto
	if auto {
		v.Depth = t.autoDepth(v.MaxNodes)
	}
	if err := writeRunHeader(w, t, v.Width, now); err != nil {
		return err
	}
	lines, cut, _ := t.layout(v, -1)
	if err := writeTreeLines(w, lines, v.Width); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := writeLevels(w, t.levels()); err != nil {
		return err
	}
	if hints := t.cutHints(v, cut, auto); len(hints) > 0 {
		_, err := fmt.Fprintf(w, "\n%s\n", strings.Join(hints, "\n"))
		return err
	}
	return nil
}

// slotWaitsText is the header's "slots" value: how many nodes of the tree
// wait for a concurrency slot, in all and per key (keys in order).
func slotWaitsText(waits map[string]int) string {
	keys := make([]string, 0, len(waits))
	total := 0
	for k, n := range waits {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", strconv.Quote(Clean(k)), waits[k])
	}
	return fmt.Sprintf("%d %s waiting for a concurrency slot (%s)", total, plural(total, "node", "nodes"), strings.Join(parts, ", "))
}

// writeRunHeader prints the run's fields, a label and a value a line, and a
// blank line.
func writeRunHeader(w io.Writer, t *Tree, width int, now time.Time) error {
	run := t.run
	var parts []string
	for _, s := range orderedStates(t.root.counts) {
		parts = append(parts, fmt.Sprintf("%s %d", s, t.root.counts[s]))
	}
	duration := "-"
	if d, ok := runDuration(run, now); ok {
		duration = d.Round(time.Microsecond).String()
		if run.FinishedAt == nil {
			duration += " so far"
		}
	}
	// The run's input and output: the terminal's width less the label, or
	// a generous line on a pipe.
	jsonWidth := maxLineRunes
	if width > 0 {
		jsonWidth = max(width-10, 20)
	}
	rows := [][]string{
		{"run", strconv.FormatInt(run.ID, 10)},
		{"name", orDash(run.Name)},
		{"state", string(run.State)},
	}
	if run.ParentRunID != nil {
		node := "?"
		if run.ParentNodeID != nil {
			node = strconv.Quote(*run.ParentNodeID)
		}
		rows = append(rows,
			[]string{"parent", fmt.Sprintf("run %d, node %s", *run.ParentRunID, node)},
			[]string{"top run", fmt.Sprintf("%d (this run is at depth %d)", run.TopRunID, run.Depth)})
	}
	rows = append(rows,
		[]string{"nodes", fmt.Sprintf("%d (%s; unfinished %d, failed %d)", run.NodeCount, strings.Join(parts, ", "), run.Unfinished, run.Failed)})
	if len(t.slotWaits) > 0 {
		rows = append(rows, []string{"slots", slotWaitsText(t.slotWaits)})
	}
	rows = append(rows,
		[]string{"created", formatTime(&run.CreatedAt)},
		[]string{"started", formatTime(run.StartedAt)},
		[]string{"finished", formatTime(run.FinishedAt)},
		[]string{"duration", duration})
	if run.TimeoutMS > 0 {
		rows = append(rows, []string{"deadline", fmt.Sprintf("%s (timeout_ms %d)", formatTime(run.DeadlineAt), run.TimeoutMS)})
	}
	if run.CancelReason != "" {
		rows = append(rows, []string{"cancelled", run.CancelReason})
	}
	rows = append(rows,
		[]string{"input", orDash(cell(compactJSON(run.Input), jsonWidth))},
		[]string{"output", orDash(cell(compactJSON(run.Output), jsonWidth))})
	if err := writeTable(w, rows, alignLeft); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000 MST")
}

// treeLine is one line of the printed tree: a node, or a note (a summary of
// nodes not listed, or where a failure below happened).
type treeLine struct {
	level  int // below the run asked for
	node   *flow.TreeNode
	detail string // a node's child run, error or output
	note   string
}

// cuts records what a view left out, for the hints under the tree.
type cuts struct {
	nodes  bool // some run had more than MaxNodes nodes
	levels bool // some run was deeper than the depth limit
}

// layout lays out the tree as lines. It stops (returning false) once it has
// more than budget lines (budget < 0: no limit).
func (t *Tree) layout(v View, budget int) ([]treeLine, cuts, bool) {
	var lines []treeLine
	var c cuts
	ok := t.layoutRun(t.root, 0, v, budget, &lines, &c)
	return lines, c, ok
}

func (t *Tree) layoutRun(r *treeRun, level int, v View, budget int, lines *[]treeLine, c *cuts) bool {
	add := func(l treeLine) bool {
		*lines = append(*lines, l)
		return budget < 0 || len(*lines) <= budget
	}
	shown, hidden := t.listed(r, v.MaxNodes)
	for _, n := range shown {
		child := t.child(n)
		if child == nil {
			if !add(treeLine{level: level, node: n, detail: nodeDetail(n)}) {
				return false
			}
			continue
		}
		detail := fmt.Sprintf("→ run %d %s: %s", child.id, child.state, formatCounts(child.counts))
		expand := v.Depth < 0 || level+1 <= v.Depth
		if !expand {
			c.levels = true
		}
		if !expand && child.belowRuns > 0 {
			detail += fmt.Sprintf("; +%d %s below: %s", child.belowRuns, plural(child.belowRuns, "run", "runs"), formatCounts(child.belowCounts))
		}
		if !add(treeLine{level: level, node: n, detail: detail}) {
			return false
		}
		if expand {
			if !t.layoutRun(child, level+1, v, budget, lines, c) {
				return false
			}
		} else if f := child.firstFailure; f != nil && child.state != flow.RunStateCancelled {
			// Where it went wrong, unless it was cancelled from above.
			if !add(treeLine{level: level + 1, note: failureNote(f)}) {
				return false
			}
		}
	}
	if len(hidden) > 0 {
		c.nodes = true
		counts := map[string]int{}
		below := map[string]int{}
		runs := 0
		for _, n := range hidden {
			counts[string(n.State)]++
			if ch := t.child(n); ch != nil {
				runs += 1 + ch.belowRuns
				addCounts(below, ch.counts)
				addCounts(below, ch.belowCounts)
			}
		}
		note := fmt.Sprintf("… %d more: %s", len(hidden), formatCounts(counts))
		if runs > 0 {
			note += fmt.Sprintf("; +%d %s below them: %s", runs, plural(runs, "run", "runs"), formatCounts(below))
		}
		if !add(treeLine{level: level, note: note}) {
			return false
		}
	}
	return true
}

// nodeDetail is what a node's line says after its state: the error of a
// node that failed or is retrying, a finished node's output, what a waiting
// node waits for.
func nodeDetail(n *flow.TreeNode) string {
	if n.State == "waiting" {
		return "waits for a signal (flow.signal)"
	}
	if n.State == "skipped" {
		return "skipped: " + cell(strings.TrimPrefix(strings.TrimPrefix(n.LastError, "htdag: "), "skipped: "), 0)
	}
	if n.State != "completed" && n.LastError != "" {
		if n.Attempt > 1 {
			return fmt.Sprintf("error (attempt %d): %s", n.Attempt, cell(n.LastError, 0))
		}
		return "error: " + cell(n.LastError, 0)
	}
	if out := compactJSON(n.Output); out != "" {
		return "output: " + cell(out, maxOutputWidth)
	}
	return ""
}

// failureNote points at the first failure in a part of the tree not
// printed. flow.tree's paths start at the run asked for.
func failureNote(n *flow.TreeNode) string {
	s := fmt.Sprintf("first failure below: %s (run %d) %s", n.Path, n.RunID, n.State)
	if n.LastError != "" {
		s += ": " + cell(n.LastError, 0)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// autoDepth is the deepest level limit whose tree fits in autoTreeLines
// lines (0 at least: the run's own nodes, at most maxNodes+1 lines).
func (t *Tree) autoDepth(maxNodes int) int {
	best := 0
	for d := 1; d <= t.levelsBelow(); d++ {
		if _, _, ok := t.layout(View{MaxNodes: maxNodes, Depth: d}, autoTreeLines); !ok {
			break
		}
		best = d
	}
	return best
}

// writeTreeLines prints the tree's lines: indented node ids, then aligned
// kind, state and detail, every field cleaned; lines are cut to width (0:
// to maxLineRunes).
func writeTreeLines(w io.Writer, lines []treeLine, width int) error {
	const indent = 2
	const maxIDWidth, maxKindWidth = 40, 24
	idW, kindW, stateW := len("NODE"), len("KIND"), len("STATE")
	for _, l := range lines {
		if l.node == nil {
			continue
		}
		idW = max(idW, min(maxIDWidth, l.level*indent+utf8.RuneCountInString(Clean(l.node.NodeID))))
		kindW = max(kindW, min(maxKindWidth, utf8.RuneCountInString(Clean(orDash(l.node.Kind)))))
		stateW = max(stateW, utf8.RuneCountInString(Clean(string(l.node.State))))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  %s  %s\n", pad("NODE", idW), pad("KIND", kindW), pad("STATE", stateW), "CHILD RUN / ERROR / OUTPUT")
	for _, l := range lines {
		prefix := strings.Repeat(" ", l.level*indent)
		var line string
		if l.node == nil {
			line = fitLine(prefix+Clean(l.note), width)
		} else {
			start := fmt.Sprintf("%s  %s  %s", pad(prefix+Clean(l.node.NodeID), idW), pad(Clean(orDash(l.node.Kind)), kindW), pad(Clean(string(l.node.State)), stateW))
			if l.detail == "" {
				line = strings.TrimRight(start, " ")
			} else {
				line = fitLine(start+"  "+Clean(l.detail), width)
			}
		}
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeLevels prints the per-level table: runs and nodes by state at each
// depth, and the whole tree's totals.
func writeLevels(w io.Writer, levels []level) error {
	var all []map[string]int
	total := level{counts: map[string]int{}}
	for _, l := range levels {
		all = append(all, l.counts)
		total.runs += l.runs
		total.nodes += l.nodes
		addCounts(total.counts, l.counts)
	}
	states := orderedStates(all...)
	head := []string{"DEPTH", "RUNS", "NODES"}
	for _, s := range states {
		head = append(head, strings.ToUpper(s))
	}
	rows := [][]string{head}
	row := func(name string, l level) {
		cells := []string{name, strconv.Itoa(l.runs), strconv.Itoa(l.nodes)}
		for _, s := range states {
			cells = append(cells, countCell(l.counts[s]))
		}
		rows = append(rows, cells)
	}
	for _, l := range levels {
		row(strconv.Itoa(l.depth), l)
	}
	if len(levels) > 1 {
		row("all", total)
	}
	return writeTable(w, rows, alignNumbers)
}

func countCell(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// cutHints say what the tree left out and how to see it.
func (t *Tree) cutHints(v View, c cuts, auto bool) []string {
	var hints []string
	if c.levels {
		how := "--depth N or all for more"
		if auto {
			how = "--depth auto: what fits a screen; --depth N or all for more"
		}
		hints = append(hints, fmt.Sprintf("listed %d of the %d levels below run %d (%s)", v.Depth, t.levelsBelow(), t.root.id, how))
	}
	if c.nodes {
		hints = append(hints, fmt.Sprintf("listed at most %d nodes per run, failed and unfinished first (--max-nodes N, 0 for all)", v.MaxNodes))
	}
	if len(hints) > 0 {
		hints = append(hints, "--json prints the whole tree")
	}
	return hints
}
