package main

import (
	"context"
	"fmt"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// graphMaxNodes bounds the nodes `status --format dot|mermaid` draws: child
// runs are added level by level while the total stays under it.
const graphMaxNodes = 500

// readGraph reads run's DAG and its child runs, breadth first, down to depth
// levels (render.DepthAll or DepthAuto: every level) while the total stays
// within graphMaxNodes.
func readGraph(ctx context.Context, client *flow.Client, run *flow.Run, depth int) (*render.Graph, error) {
	nodes, err := client.Nodes(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("run %d: reading nodes: %w", run.ID, err)
	}
	top := &render.Graph{Run: run, Nodes: nodes, Children: map[int64]*render.Graph{}}
	total := len(nodes)
	level := []*render.Graph{top}
	for d := 1; len(level) > 0 && (depth < 0 || d <= depth); d++ {
		var next []*render.Graph
		for _, g := range level {
			for _, n := range g.Nodes {
				if n.ChildRunID == nil {
					continue
				}
				child, err := client.GetRun(ctx, *n.ChildRunID)
				if err != nil {
					return nil, fmt.Errorf("run %d: %w", *n.ChildRunID, err)
				}
				if total+child.NodeCount > graphMaxNodes {
					return top, nil
				}
				cn, err := client.Nodes(ctx, child.ID)
				if err != nil {
					return nil, fmt.Errorf("run %d: reading nodes: %w", child.ID, err)
				}
				total += len(cn)
				cg := &render.Graph{Run: child, Nodes: cn, Children: map[int64]*render.Graph{}}
				g.Children[child.ID] = cg
				next = append(next, cg)
			}
		}
		level = next
	}
	return top, nil
}
