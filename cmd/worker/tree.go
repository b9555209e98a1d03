package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/htdag/htdag/flow"
)

// A status tree is flow.tree's rows (one per node of the run asked for and of
// every run below it, depth first) grouped by run, with what lies below each
// run counted once, so that any part of a big tree can be summarised without
// walking it again.

// treeRun is one run of a status tree.
type treeRun struct {
	id     int64
	depth  int // in the whole tree (0: a top run), as flow.tree gives it
	state  flow.RunState
	nodes  []*flow.TreeNode // in job id order (the spec's)
	counts map[string]int   // its own nodes by state
	// parent is the node the run runs for (nil for the run asked for).
	parent *flow.TreeNode
	// belowRuns, belowNodes and belowCounts count the runs strictly below
	// this one and their nodes.
	belowRuns   int
	belowNodes  int
	belowCounts map[string]int
	// firstFailure is the first node in depth-first order, in this run or
	// below, that failed by itself (discarded, else cancelled, and not a
	// node whose child run failed): where to look for the cause.
	firstFailure *flow.TreeNode
	// shown and hidden cache listed's answer for shownFor nodes at most.
	shown, hidden []*flow.TreeNode
	shownFor      int
}

// statusTree is a run's whole tree.
type statusTree struct {
	root *treeRun
	runs []*treeRun // pre-order: a run comes before the runs below it
	byID map[int64]*treeRun
	rows []*flow.TreeNode
}

// buildTree groups flow.tree's rows for the run asked for (root).
func buildTree(root *flow.Run, rows []*flow.TreeNode) *statusTree {
	t := &statusTree{byID: map[int64]*treeRun{}, rows: rows}
	// The run asked for first, even in the (transient) case of no rows.
	t.root = t.run(root.ID, root.Depth, root.State)
	parentOf := map[int64]*flow.TreeNode{}
	for _, n := range rows {
		r := t.run(n.RunID, n.Depth, n.RunState)
		r.nodes = append(r.nodes, n)
		r.counts[n.State]++
		if n.ChildRunID != nil {
			parentOf[*n.ChildRunID] = n
		}
	}
	for _, r := range t.runs {
		r.parent = parentOf[r.id]
	}
	// Reverse pre-order: every run's children are done before it.
	for i := len(t.runs) - 1; i >= 0; i-- {
		r := t.runs[i]
		var discarded, cancelled *flow.TreeNode
		for _, n := range r.nodes {
			if c := t.child(n); c != nil {
				r.belowRuns += 1 + c.belowRuns
				r.belowNodes += len(c.nodes) + c.belowNodes
				addCounts(r.belowCounts, c.counts)
				addCounts(r.belowCounts, c.belowCounts)
				switch f := c.firstFailure; {
				case f == nil:
				case f.State == "discarded":
					if discarded == nil {
						discarded = f
					}
				case cancelled == nil:
					cancelled = f
				}
				continue
			}
			switch {
			case n.State == "discarded" && discarded == nil:
				discarded = n
			case n.State == "cancelled" && cancelled == nil:
				cancelled = n
			}
		}
		r.firstFailure = discarded
		if r.firstFailure == nil {
			r.firstFailure = cancelled
		}
	}
	return t
}

func (t *statusTree) run(id int64, depth int, state flow.RunState) *treeRun {
	r, ok := t.byID[id]
	if !ok {
		r = &treeRun{id: id, depth: depth, state: state, counts: map[string]int{}, belowCounts: map[string]int{}}
		t.byID[id] = r
		t.runs = append(t.runs, r)
	}
	return r
}

// child is the child run node n runs as, if it is in the tree.
func (t *statusTree) child(n *flow.TreeNode) *treeRun {
	if n.ChildRunID == nil {
		return nil
	}
	return t.byID[*n.ChildRunID]
}

func addCounts(dst, src map[string]int) {
	for k, v := range src {
		dst[k] += v
	}
}

// formatCounts prints node counts by state, "3 completed, 1 discarded", in
// the order a node moves through the states.
func formatCounts(counts map[string]int) string {
	var parts []string
	for _, s := range orderedStates(counts) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	if len(parts) == 0 {
		return "no nodes"
	}
	return strings.Join(parts, ", ")
}

// orderedStates is the states present in the maps, known ones in nodeStates
// order, any other after them by name.
func orderedStates(maps ...map[string]int) []string {
	present := map[string]bool{}
	for _, m := range maps {
		for s, n := range m {
			if n > 0 {
				present[s] = true
			}
		}
	}
	var out []string
	for _, s := range nodeStates {
		if present[s] {
			out = append(out, s)
			delete(present, s)
		}
	}
	var rest []string
	for s := range present {
		rest = append(rest, s)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// stateRank orders nodes for listing when a run has more than --max-nodes:
// failures first, then what is in progress, then what waits, then what is
// done.
func stateRank(n *flow.TreeNode) int {
	switch n.State {
	case "discarded":
		return 0
	case "cancelled":
		return 1
	case "retryable":
		return 2
	case "running":
		return 3
	case "pending":
		if n.ChildRunID != nil {
			return 4 // waiting for its child run, which is under way
		}
		return 6
	case "available", "scheduled":
		return 5
	case "completed":
		return 7
	default:
		return 8
	}
}

// listed splits a run's nodes into those to list and those to summarise:
// all of them in spec order when they fit in maxNodes (0: no limit), else
// the maxNodes most worth seeing, failures and unfinished nodes first.
func (t *statusTree) listed(r *treeRun, maxNodes int) (shown, hidden []*flow.TreeNode) {
	if maxNodes <= 0 || len(r.nodes) <= maxNodes {
		return r.nodes, nil
	}
	if r.shownFor != maxNodes {
		// Sorted once however many times --depth auto lays the tree out.
		sorted := slices.Clone(r.nodes)
		slices.SortStableFunc(sorted, func(a, b *flow.TreeNode) int { return stateRank(a) - stateRank(b) })
		r.shown, r.hidden, r.shownFor = sorted[:maxNodes], sorted[maxNodes:], maxNodes
	}
	return r.shown, r.hidden
}

// treeView says how much of a tree to print.
type treeView struct {
	maxNodes int // per run; 0: all
	depth    int // levels below the run asked for; -1: all
}

// treeLine is one line of the printed tree: a node, or a note (a summary of
// nodes not listed, or where a failure below happened).
type treeLine struct {
	level  int // below the run asked for
	node   *flow.TreeNode
	detail string // a node's child run, error or output
	note   string
}

// cuts records what a view left out, for the hint under the tree.
type cuts struct {
	nodes  bool // some run had more than maxNodes nodes
	levels bool // some run was deeper than the depth limit
}

// render lays out the tree as lines. It stops (returning false) once it has
// more than budget lines (budget < 0: no limit).
func (t *statusTree) render(v treeView, budget int) ([]treeLine, cuts, bool) {
	var lines []treeLine
	var c cuts
	ok := t.renderRun(t.root, 0, v, budget, &lines, &c)
	return lines, c, ok
}

func (t *statusTree) renderRun(r *treeRun, level int, v treeView, budget int, lines *[]treeLine, c *cuts) bool {
	add := func(l treeLine) bool {
		*lines = append(*lines, l)
		return budget < 0 || len(*lines) <= budget
	}
	shown, hidden := t.listed(r, v.maxNodes)
	for _, n := range shown {
		child := t.child(n)
		if child == nil {
			if !add(treeLine{level: level, node: n, detail: nodeDetail(n)}) {
				return false
			}
			continue
		}
		detail := fmt.Sprintf("→ run %d %s: %s", child.id, child.state, formatCounts(child.counts))
		expand := v.depth < 0 || level+1 <= v.depth
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
			if !t.renderRun(child, level+1, v, budget, lines, c) {
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
			counts[n.State]++
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
// node that failed or is retrying, a finished node's output.
func nodeDetail(n *flow.TreeNode) string {
	if n.State != "completed" && n.LastError != "" {
		if n.Attempt > 1 {
			return fmt.Sprintf("error (attempt %d): %s", n.Attempt, oneLine(n.LastError))
		}
		return "error: " + oneLine(n.LastError)
	}
	if out := compactJSON(n.Output); out != "" {
		return "output: " + truncate(out, maxOutputWidth)
	}
	return ""
}

// failureNote points at the first failure in a part of the tree not
// printed. flow.tree's paths start at the run asked for.
func failureNote(n *flow.TreeNode) string {
	s := fmt.Sprintf("first failure below: %s (run %d) %s", n.Path, n.RunID, n.State)
	if n.LastError != "" {
		s += ": " + oneLine(n.LastError)
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// autoTreeLines is how many tree lines --depth auto aims for: a screenful
// with the header and the per-level table.
const autoTreeLines = 30

// autoDepth is the deepest level limit whose tree fits in autoTreeLines
// lines (0 at least: the run's own nodes, at most maxNodes+1 lines).
func (t *statusTree) autoDepth(maxNodes int) int {
	deepest := 0
	for _, r := range t.runs {
		deepest = max(deepest, r.depth-t.root.depth)
	}
	best := 0
	for d := 1; d <= deepest; d++ {
		if _, _, ok := t.render(treeView{maxNodes: maxNodes, depth: d}, autoTreeLines); !ok {
			break
		}
		best = d
	}
	return best
}

// writeTreeLines prints the tree's lines: indented node ids, then aligned
// kind, state and detail; lines are cut to width (0: to maxLineRunes).
func writeTreeLines(w io.Writer, lines []treeLine, width int) error {
	const indent = 2
	const maxIDWidth, maxKindWidth = 40, 24
	idW, kindW, stateW := len("NODE"), len("KIND"), len("STATE")
	for _, l := range lines {
		if l.node == nil {
			continue
		}
		idW = max(idW, min(maxIDWidth, l.level*indent+utf8.RuneCountInString(l.node.NodeID)))
		kindW = max(kindW, min(maxKindWidth, utf8.RuneCountInString(orDash(l.node.Kind))))
		stateW = max(stateW, utf8.RuneCountInString(l.node.State))
	}
	var b strings.Builder
	header := fmt.Sprintf("%s  %s  %s  %s", pad("NODE", idW), pad("KIND", kindW), pad("STATE", stateW), "CHILD RUN / ERROR / OUTPUT")
	b.WriteString(header + "\n")
	for _, l := range lines {
		prefix := strings.Repeat(" ", l.level*indent)
		var line string
		if l.node == nil {
			line = fitLine(prefix+l.note, width)
		} else {
			start := fmt.Sprintf("%s  %s  %s", pad(prefix+l.node.NodeID, idW), pad(orDash(l.node.Kind), kindW), pad(l.node.State, stateW))
			if l.detail == "" {
				line = strings.TrimRight(start, " ")
			} else {
				line = fitLine(start+"  "+l.detail, width)
			}
		}
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// maxLineRunes caps a line when the output's width is unknown (a pipe):
// long enough for most errors, short enough for a grep or a pager.
// --json has them whole.
const maxLineRunes = 240

// fitLine cuts a line to width runes (0: to maxLineRunes), marking the cut.
func fitLine(s string, width int) string {
	if width <= 0 {
		width = maxLineRunes
	}
	// Keep at least some of the detail on very narrow terminals.
	return truncateRunes(s, max(width, 40))
}

// truncateRunes cuts s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func pad(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// level is one depth of a tree: its runs and their nodes by state.
type level struct {
	depth  int
	runs   int
	nodes  int
	counts map[string]int
}

// levels sums the tree by depth, shallowest first.
func (t *statusTree) levels() []level {
	byDepth := map[int]*level{}
	for _, r := range t.runs {
		l, ok := byDepth[r.depth]
		if !ok {
			l = &level{depth: r.depth, counts: map[string]int{}}
			byDepth[r.depth] = l
		}
		l.runs++
		l.nodes += len(r.nodes)
		addCounts(l.counts, r.counts)
	}
	out := make([]level, 0, len(byDepth))
	for _, l := range byDepth {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b level) int { return a.depth - b.depth })
	return out
}

// writeLevels prints the per-level table: runs and nodes by state at each
// depth, and the whole tree's totals; numbers right-aligned.
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
	table := [][]string{head}
	row := func(name string, l level) {
		cells := []string{name, strconv.Itoa(l.runs), strconv.Itoa(l.nodes)}
		for _, s := range states {
			cells = append(cells, countCell(l.counts[s]))
		}
		table = append(table, cells)
	}
	for _, l := range levels {
		row(strconv.Itoa(l.depth), l)
	}
	if len(levels) > 1 {
		row("all", total)
	}
	widths := make([]int, len(head))
	for _, cells := range table {
		for i, c := range cells {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, cells := range table {
		for i, c := range cells {
			switch {
			case i == 0:
				b.WriteString(pad(c, widths[i]))
			default:
				b.WriteString("  " + strings.Repeat(" ", widths[i]-len(c)) + c)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func countCell(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}
