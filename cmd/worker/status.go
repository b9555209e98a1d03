package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/internal/render"
)

// statusCommand shows a run and its whole tree, for people (an indented
// tree and a table per level) or scripts (--json).
func (a *app) statusCommand() *cobra.Command {
	var (
		asJSON   bool
		format   string
		maxNodes int
		depth    string
	)
	cmd := &cobra.Command{
		Use:   "status RUN_ID",
		Short: "Show a run and its tree of nodes and child runs",
		Long: `status shows a run (state, node counts, times, input, output; for a child run,
its parent run and node and its top run), then its tree: every node on a line,
a node that runs as a child run (sub-workflow, map, expansion) followed by that
run's nodes, indented; failed nodes with their last error. Then, for each
depth, the runs and their nodes by state.

Big trees are summarised: a run with more than --max-nodes nodes lists its
failed and unfinished nodes first and counts the rest; runs deeper than
--depth are counted on their parent node's line, with the first failure
below it. --depth auto (the default) goes as deep as fits in about a screen.

--json prints the whole tree, whatever --depth and --max-nodes say.

--format dot or mermaid prints the run's DAG instead, for Graphviz (dot -Tsvg)
or Mermaid: a box per node coloured by state with its kind and duration, an
arrow per edge, and child runs as clusters down to --depth levels (auto and
all: every level) while the drawing stays under 500 nodes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runID, err := parseRunID(cmd, args[0])
			if err != nil {
				return err
			}
			levels, err := render.ParseDepth(depth)
			if err != nil {
				return usageError(cmd, err)
			}
			switch format {
			case "text", "json", "dot", "mermaid":
			default:
				return usageError(cmd, fmt.Errorf("--format %q: want text, json, dot or mermaid", format))
			}
			if asJSON {
				format = "json"
			}
			if maxNodes < 0 {
				return usageError(cmd, fmt.Errorf("--max-nodes %d: want 0 (no limit) or more", maxNodes))
			}
			ctx := cmd.Context()
			client, closePool, err := a.openClient(ctx)
			if err != nil {
				return err
			}
			defer closePool()

			run, err := client.GetRun(ctx, runID)
			if err != nil {
				return fmt.Errorf("run %d: %w", runID, migrateHint(err))
			}
			if format == "dot" || format == "mermaid" {
				g, err := readGraph(ctx, client, run, levels)
				if err != nil {
					return migrateHint(err)
				}
				if format == "dot" {
					return render.StatusDOT(cmd.OutOrStdout(), g, time.Now())
				}
				return render.StatusMermaid(cmd.OutOrStdout(), g, time.Now())
			}
			rows, err := client.Tree(ctx, runID)
			if err != nil {
				return fmt.Errorf("run %d: reading its tree: %w", runID, migrateHint(err))
			}
			tree := render.NewTree(run, rows)
			waits, err := client.SlotWaits(ctx, tree.RunIDs())
			if err != nil {
				return fmt.Errorf("run %d: reading its nodes waiting for a concurrency slot: %w", runID, migrateHint(err))
			}
			tree.SetSlotWaits(waits)
			out := cmd.OutOrStdout()
			if format == "json" {
				nodes, err := client.Nodes(ctx, runID)
				if err != nil {
					return fmt.Errorf("run %d: reading nodes: %w", runID, migrateHint(err))
				}
				return render.StatusJSON(out, tree, nodes, time.Now())
			}
			return render.StatusText(out, tree, render.View{MaxNodes: maxNodes, Depth: levels, Width: render.Width(out)}, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run and its whole tree as JSON (--format json)")
	cmd.Flags().StringVar(&format, "format", "text", "text, json, dot (Graphviz) or mermaid: the last two print the run's DAG")
	cmd.Flags().IntVar(&maxNodes, "max-nodes", 20, "list at most this many nodes per run, failed and unfinished first (0: all)")
	cmd.Flags().StringVar(&depth, "depth", "auto", "levels of child runs to list: a number, all, or auto (as many as fit a screen)")
	return cmd
}
