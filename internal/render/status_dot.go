package render

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// StatusDOT prints g as a Graphviz DOT digraph, left to right: one box per
// node, filled by state and labelled with its id, kind, state and duration;
// an arrow per edge; each child run in Children as a cluster, with dashed
// arrows from the node that runs it to its roots. `dot -Tsvg` draws it.
func StatusDOT(w io.Writer, g *Graph, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(fmt.Sprintf("run %d", g.Run.ID)))
	b.WriteString("  rankdir=LR;\n  labelloc=t;\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=11];\n")
	b.WriteString("  edge [color=\"#5b616b\"];\n")
	fmt.Fprintf(&b, "  label=%s;\n", dotQuote(runTitle(g.Run)))
	writeDOTRun(&b, g, "  ", now)
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotID(runID int64, node string) string { return dotQuote(fmt.Sprintf("%d/%s", runID, node)) }

func writeDOTRun(b *strings.Builder, g *Graph, indent string, now time.Time) {
	for _, n := range g.Nodes {
		id, second := nodeLabel(n, now)
		font := "black"
		if darkState(n.State) {
			font = "white"
		}
		style := ""
		if n.ChildRunID != nil {
			style = `, style="rounded,filled,dashed", penwidth=2`
		}
		fmt.Fprintf(b, "%s%s [label=%s, fillcolor=%s, fontcolor=%s%s];\n", indent, dotID(g.Run.ID, n.NodeID),
			dotQuote(id+"\n"+second), dotQuote(stateColors[n.State]), font, style)
	}
	for _, n := range g.Nodes {
		for _, p := range n.Parents {
			fmt.Fprintf(b, "%s%s -> %s;\n", indent, dotID(g.Run.ID, p), dotID(g.Run.ID, n.NodeID))
		}
	}
	for _, n := range g.Nodes {
		if n.ChildRunID == nil || g.Children[*n.ChildRunID] == nil {
			continue
		}
		child := g.Children[*n.ChildRunID]
		fmt.Fprintf(b, "%ssubgraph %s {\n", indent, dotQuote(fmt.Sprintf("cluster_%d", child.Run.ID)))
		fmt.Fprintf(b, "%s  label=%s;\n%s  style=\"dashed,rounded\";\n%s  color=\"#9fb0c8\";\n", indent, dotQuote(runTitle(child.Run)), indent, indent)
		writeDOTRun(b, child, indent+"  ", now)
		fmt.Fprintf(b, "%s}\n", indent)
		for _, r := range child.roots() {
			fmt.Fprintf(b, "%s%s -> %s [style=dashed];\n", indent, dotID(g.Run.ID, n.NodeID), dotID(child.Run.ID, r.NodeID))
		}
	}
}

// dotQuote is s as a DOT quoted string: only '"' and '\' need escaping, and
// newlines become DOT's \n.
func dotQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}
