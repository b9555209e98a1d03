package render

import (
	"fmt"
	"time"

	"github.com/htdag/htdag/flow"
)

// Graph is a run's DAG for the graph formats (DOT, Mermaid): the run, its
// nodes with their edges (NodeInfo.Parents), and the child runs that are
// drawn inside the graph, by id. A node whose child run is not in Children
// is drawn as a node only.
type Graph struct {
	Run      *flow.Run
	Nodes    []*flow.NodeInfo
	Children map[int64]*Graph
}

// stateColors are the fill colours of node states, as on the run page.
var stateColors = map[flow.NodeState]string{
	"completed": "#2e9d57", "running": "#2f6fdb", "available": "#8aa4c8", "scheduled": "#8aa4c8",
	"pending": "#c9ccd1", "retryable": "#e59a2c", "discarded": "#d1382f", "cancelled": "#6b6f76", "skipped": "#e8e1c8", "waiting": "#f2c94c", "deleted": "#ffffff",
}

// darkState: white text reads better on these fills.
func darkState(s flow.NodeState) bool {
	switch s {
	case "completed", "running", "discarded", "cancelled", "retryable":
		return true
	}
	return false
}

// runTitle is a run's caption: "run 2 build (completed)".
func runTitle(r *flow.Run) string {
	t := fmt.Sprintf("run %d", r.ID)
	if r.Name != "" {
		t += " " + r.Name
	}
	return Clean(t + " (" + string(r.State) + ")")
}

// nodeLabel is a node's two lines: its id, then kind, state and, once it
// started, how long it took (or has been running).
func nodeLabel(n *flow.NodeInfo, now time.Time) (string, string) {
	second := n.Kind + " · " + string(n.State)
	if n.AttemptedAt != nil {
		end := now
		if n.FinalizedAt != nil {
			end = *n.FinalizedAt
		}
		second += " · " + shortDuration(end.Sub(*n.AttemptedAt))
	}
	return Clean(n.NodeID), Clean(second)
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

// roots are the run's nodes without parents: a node that runs as a child
// run points at them.
func (g *Graph) roots() []*flow.NodeInfo {
	var roots []*flow.NodeInfo
	for _, n := range g.Nodes {
		if len(n.Parents) == 0 {
			roots = append(roots, n)
		}
	}
	return roots
}
