package render

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/htdag/htdag/flow"
)

// A Tree is flow.Client.Tree's rows (one per node of the run asked for and
// of every run below it, depth first) grouped by run, with what lies below
// each run counted once, so that any part of a big tree can be summarised
// without walking it again.
type Tree struct {
	run  *flow.Run
	root *treeRun
	runs []*treeRun // pre-order: a run comes before the runs below it
	byID map[int64]*treeRun
	rows []*flow.TreeNode
	// slotWaits counts the tree's nodes waiting for a concurrency slot, per
	// key (SetSlotWaits).
	slotWaits map[string]int
}

// SetSlotWaits records how many of the tree's pending nodes wait for a slot
// of each concurrency key (flow.Client.SlotWaits), for the run header.
func (t *Tree) SetSlotWaits(waits map[string]int) { t.slotWaits = waits }

// RunIDs are the ids of the tree's runs, the run asked for first.
func (t *Tree) RunIDs() []int64 {
	ids := make([]int64, 0, len(t.runs))
	for _, r := range t.runs {
		ids = append(ids, r.id)
	}
	return ids
}

// treeRun is one run of a tree.
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

// NewTree groups the rows of run's tree, as flow.Client.Tree returns them
// for run.ID.
func NewTree(run *flow.Run, rows []*flow.TreeNode) *Tree {
	t := &Tree{run: run, byID: map[int64]*treeRun{}, rows: rows}
	// The run asked for first, even in the (transient) case of no rows.
	t.root = t.addRun(run.ID, run.Depth, run.State)
	parentOf := map[int64]*flow.TreeNode{}
	for _, n := range rows {
		r := t.addRun(n.RunID, n.Depth, n.RunState)
		r.nodes = append(r.nodes, n)
		r.counts[string(n.State)]++
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

func (t *Tree) addRun(id int64, depth int, state flow.RunState) *treeRun {
	r, ok := t.byID[id]
	if !ok {
		r = &treeRun{id: id, depth: depth, state: state, counts: map[string]int{}, belowCounts: map[string]int{}}
		t.byID[id] = r
		t.runs = append(t.runs, r)
	}
	return r
}

// child is the child run node n runs as, if it is in the tree.
func (t *Tree) child(n *flow.TreeNode) *treeRun {
	if n.ChildRunID == nil {
		return nil
	}
	return t.byID[*n.ChildRunID]
}

// levelsBelow is how many levels of runs the tree has below the run asked
// for.
func (t *Tree) levelsBelow() int {
	deepest := 0
	for _, r := range t.runs {
		deepest = max(deepest, r.depth-t.root.depth)
	}
	return deepest
}

func addCounts(dst, src map[string]int) {
	for k, v := range src {
		dst[k] += v
	}
}

// nodeStates orders the per-state counts as a node moves through them
// ("deleted": River's cleaner removed the finished job; "waiting": a wait
// node waiting for a signal).
var nodeStates = []string{"pending", "waiting", "scheduled", "available", "running", "retryable", "completed", "skipped", "cancelled", "discarded", "deleted"}

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

// stateRank orders nodes for listing when a run has more than MaxNodes:
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
	case "available", "scheduled", "waiting":
		return 5
	case "completed", "skipped":
		return 7
	default:
		return 8
	}
}

// listed splits a run's nodes into those to list and those to summarise:
// all of them in spec order when they fit in maxNodes (0: no limit), else
// the maxNodes most worth seeing, failures and unfinished nodes first.
func (t *Tree) listed(r *treeRun, maxNodes int) (shown, hidden []*flow.TreeNode) {
	if maxNodes <= 0 || len(r.nodes) <= maxNodes {
		return r.nodes, nil
	}
	if r.shownFor != maxNodes {
		// Sorted once however many times DepthAuto lays the tree out.
		sorted := slices.Clone(r.nodes)
		slices.SortStableFunc(sorted, func(a, b *flow.TreeNode) int { return stateRank(a) - stateRank(b) })
		r.shown, r.hidden, r.shownFor = sorted[:maxNodes], sorted[maxNodes:], maxNodes
	}
	return r.shown, r.hidden
}

// level is one depth of a tree: its runs and their nodes by state.
type level struct {
	depth  int
	runs   int
	nodes  int
	counts map[string]int
}

// levels sums the tree by depth, shallowest first.
func (t *Tree) levels() []level {
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
