package render

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/htdag/htdag/flow"
)

// StatusMermaid prints g as a Mermaid flowchart, left to right: one box per
// node, classed by state and labelled with its id, kind, state and duration;
// an arrow per edge; each child run in Children as a subgraph, with dotted
// arrows from the node that runs it to its roots. Node ids are generated
// (r<run>_<n>), so a spec's node ids never meet Mermaid's syntax; labels
// are quoted with '"' written as #quot;.
func StatusMermaid(w io.Writer, g *Graph, now time.Time) error {
	var b strings.Builder
	b.WriteString("%% " + mermaidText(runTitle(g.Run)) + "\n")
	b.WriteString("flowchart LR\n")
	used := map[flow.NodeState]bool{}
	writeMermaidRun(&b, g, "  ", now, used)
	states := make([]string, 0, len(used))
	for s := range used {
		states = append(states, string(s))
	}
	slices.Sort(states)
	for _, s := range states {
		font := "#1d2127"
		if darkState(flow.NodeState(s)) {
			font = "#fff"
		}
		fmt.Fprintf(&b, "  classDef %s fill:%s,color:%s,stroke:#1d2127\n", s, stateColors[flow.NodeState(s)], font)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeMermaidRun(b *strings.Builder, g *Graph, indent string, now time.Time, used map[flow.NodeState]bool) {
	ids := make(map[string]string, len(g.Nodes))
	for i, n := range g.Nodes {
		ids[n.NodeID] = fmt.Sprintf("r%d_%d", g.Run.ID, i)
	}
	for _, n := range g.Nodes {
		id, second := nodeLabel(n, now)
		used[n.State] = true
		fmt.Fprintf(b, "%s%s[\"%s<br/>%s\"]:::%s\n", indent, ids[n.NodeID], mermaidText(id), mermaidText(second), n.State)
	}
	for _, n := range g.Nodes {
		for _, p := range n.Parents {
			fmt.Fprintf(b, "%s%s --> %s\n", indent, ids[p], ids[n.NodeID])
		}
	}
	for _, n := range g.Nodes {
		if n.ChildRunID == nil || g.Children[*n.ChildRunID] == nil {
			continue
		}
		child := g.Children[*n.ChildRunID]
		fmt.Fprintf(b, "%ssubgraph run%d[\"%s\"]\n", indent, child.Run.ID, mermaidText(runTitle(child.Run)))
		writeMermaidRun(b, child, indent+"  ", now, used)
		fmt.Fprintf(b, "%send\n", indent)
		for i, r := range child.Nodes {
			if len(r.Parents) == 0 {
				fmt.Fprintf(b, "%s%s -.-> r%d_%d\n", indent, ids[n.NodeID], child.Run.ID, i)
			}
		}
	}
}

// mermaidText is s inside a quoted Mermaid label: entity codes for the
// characters that would end or break it.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "\n", " ", "<", "#lt;", ">", "#gt;").Replace(s)
}
