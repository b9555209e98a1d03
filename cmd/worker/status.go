package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
)

// maxOutputWidth caps a node's output in the tree: outputs can be big, and
// --json gives them whole.
const maxOutputWidth = 60

// nodeStates orders the per-state counts as a node moves through them
// ("deleted": River's cleaner removed the finished job).
var nodeStates = []string{"pending", "scheduled", "available", "running", "retryable", "completed", "cancelled", "discarded", "deleted"}

// statusJSON is `status --json`'s document. It has its own snake_case tags
// rather than flow's Go field names, as it is an interface for scripts; its
// shape only grows. run and nodes are the run asked for and its own nodes;
// tree, runs and levels are its whole tree (every run below it, however
// deep: --depth and --max-nodes shape the text output only):
//
//   - tree: flow.tree's rows, one per node, depth first (a node's child
//     run's nodes follow it); path is the node's place from the run asked
//     for ("sub/m/7"), depth its run's depth in the whole tree (0: a top run).
//   - runs: one per run in the same order (the run asked for first), with its
//     nodes by state and the totals of the subtree it heads (itself
//     included); parent_path is the path of the node it runs for (null for
//     the run asked for).
//   - levels: one per depth, shallowest first: runs and nodes by state.
type statusJSON struct {
	Run    runJSON        `json:"run"`
	Nodes  []nodeJSON     `json:"nodes"`
	Tree   []treeNodeJSON `json:"tree"`
	Runs   []treeRunJSON  `json:"runs"`
	Levels []levelJSON    `json:"levels"`
}

type runJSON struct {
	ID         int64           `json:"id"`
	Name       string          `json:"name"`
	State      string          `json:"state"`
	NodeCount  int             `json:"node_count"`
	Unfinished int             `json:"unfinished"`
	Failed     int             `json:"failed"`
	NodeStates map[string]int  `json:"node_states"`
	Input      json.RawMessage `json:"input"`
	Output     json.RawMessage `json:"output"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	DurationMS *float64        `json:"duration_ms"`
	// Where the run sits in its tree: null parents and depth 0 for a top run.
	ParentRunID *int64  `json:"parent_run_id"`
	ParentJobID *int64  `json:"parent_job_id"`
	ParentNode  *string `json:"parent_node"` // the parent node's id (status only)
	TopRunID    int64   `json:"top_run_id"`
	Depth       int     `json:"depth"`
}

type nodeJSON struct {
	NodeID      string          `json:"node_id"`
	JobID       int64           `json:"job_id"`
	Kind        string          `json:"kind"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Parents     []string        `json:"parents"`
	Waiting     int             `json:"waiting"`
	LastError   string          `json:"last_error"`
	Output      json.RawMessage `json:"output"`
	AttemptedAt *time.Time      `json:"attempted_at"`
	FinalizedAt *time.Time      `json:"finalized_at"`
	ChildRunID  *int64          `json:"child_run_id"`
}

// treeNodeJSON is one row of flow.tree.
type treeNodeJSON struct {
	Path       string          `json:"path"`
	RunID      int64           `json:"run_id"`
	Depth      int             `json:"depth"`
	RunState   string          `json:"run_state"`
	NodeID     string          `json:"node_id"`
	JobID      int64           `json:"job_id"`
	Kind       string          `json:"kind"`
	State      string          `json:"state"`
	Attempt    int             `json:"attempt"`
	ChildRunID *int64          `json:"child_run_id"`
	LastError  string          `json:"last_error"`
	Output     json.RawMessage `json:"output"`
}

// treeRunJSON summarises one run of the tree.
type treeRunJSON struct {
	ID          int64          `json:"id"`
	Depth       int            `json:"depth"`
	State       string         `json:"state"`
	ParentRunID *int64         `json:"parent_run_id"`
	ParentJobID *int64         `json:"parent_job_id"`
	ParentPath  *string        `json:"parent_path"`
	NodeCount   int            `json:"node_count"`
	NodeStates  map[string]int `json:"node_states"`
	Subtree     subtreeJSON    `json:"subtree"`
}

// subtreeJSON counts a run and every run below it.
type subtreeJSON struct {
	Runs       int            `json:"runs"`
	Nodes      int            `json:"nodes"`
	NodeStates map[string]int `json:"node_states"`
}

type levelJSON struct {
	Depth      int            `json:"depth"`
	Runs       int            `json:"runs"`
	Nodes      int            `json:"nodes"`
	NodeStates map[string]int `json:"node_states"`
}

// statusOptions are status's flags.
type statusOptions struct {
	asJSON   bool
	maxNodes int
	depth    string
}

// depthAuto and depthAll are --depth's words; any other value is a number
// of levels below the run asked for.
const (
	depthAuto = "auto"
	depthAll  = "all"
)

// statusCommand shows a run and its whole tree, for people (an indented
// tree and a table per level) or scripts (--json).
func (a *app) statusCommand() *cobra.Command {
	var o statusOptions
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

--json prints the whole tree, whatever --depth and --max-nodes say.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runID, err := parseRunID(cmd, args[0])
			if err != nil {
				return err
			}
			depth, err := parseDepth(o.depth)
			if err != nil {
				return usageError(cmd, err)
			}
			if o.maxNodes < 0 {
				return usageError(cmd, fmt.Errorf("--max-nodes %d: want 0 (no limit) or more", o.maxNodes))
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
			rows, err := client.Tree(ctx, runID)
			if err != nil {
				return fmt.Errorf("run %d: reading its tree: %w", runID, migrateHint(err))
			}
			parentNode := run.ParentNodeID
			tree := buildTree(run, rows)
			out := cmd.OutOrStdout()
			if o.asJSON {
				nodes, err := client.Nodes(ctx, runID)
				if err != nil {
					return fmt.Errorf("run %d: reading nodes: %w", runID, migrateHint(err))
				}
				return writeStatusJSON(out, run, parentNode, nodes, tree, time.Now())
			}
			view := treeView{maxNodes: o.maxNodes, depth: depth}
			if o.depth == depthAuto {
				view.depth = tree.autoDepth(o.maxNodes)
			}
			return writeStatusText(out, run, parentNode, tree, view, o.depth == depthAuto, outputWidth(out), time.Now())
		},
	}
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print the run and its whole tree as JSON")
	cmd.Flags().IntVar(&o.maxNodes, "max-nodes", 20, "list at most this many nodes per run, failed and unfinished first (0: all)")
	cmd.Flags().StringVar(&o.depth, "depth", depthAuto, "levels of child runs to list: a number, all, or auto (as many as fit a screen)")
	return cmd
}

// parseDepth reads --depth: -1 for all (and for auto, decided later).
func parseDepth(s string) (int, error) {
	switch s {
	case depthAuto, depthAll:
		return -1, nil
	}
	d, err := strconv.Atoi(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--depth %q: want a number of levels (0: the run's own nodes), all or auto", s)
	}
	return d, nil
}

// outputWidth is the terminal's width when w is one, else $COLUMNS, else 0
// (unknown).
func outputWidth(w io.Writer) int {
	if isTerminal(w) {
		if n := terminalWidth(w); n > 0 {
			return n
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

// runDuration is how long the run has been going, or took; false before it
// started.
func runDuration(run *flow.Run, now time.Time) (time.Duration, bool) {
	if run.StartedAt == nil {
		return 0, false
	}
	end := now
	if run.FinishedAt != nil {
		end = *run.FinishedAt
	}
	return end.Sub(*run.StartedAt), true
}

// newRunJSON is a run's JSON object, shared by status and runs.
func newRunJSON(r *flow.Run, now time.Time) runJSON {
	rj := runJSON{
		ID: r.ID, Name: r.Name, State: string(r.State),
		NodeCount: r.NodeCount, Unfinished: r.Unfinished, Failed: r.Failed,
		Input: r.Input, Output: r.Output,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		ParentRunID: r.ParentRunID, ParentJobID: r.ParentJobID, TopRunID: r.TopRunID, Depth: r.Depth,
	}
	if d, ok := runDuration(r, now); ok {
		ms := float64(d) / float64(time.Millisecond)
		rj.DurationMS = &ms
	}
	return rj
}

func writeStatusJSON(w io.Writer, run *flow.Run, parentNode *string, nodes []*flow.NodeInfo, tree *statusTree, now time.Time) error {
	doc := statusJSON{
		Run:    newRunJSON(run, now),
		Nodes:  make([]nodeJSON, 0, len(nodes)),
		Tree:   make([]treeNodeJSON, 0, len(tree.rows)),
		Runs:   make([]treeRunJSON, 0, len(tree.runs)),
		Levels: []levelJSON{},
	}
	doc.Run.ParentNode = parentNode
	doc.Run.NodeStates = map[string]int{}
	addCounts(doc.Run.NodeStates, tree.root.counts)
	for _, n := range nodes {
		parents := n.Parents
		if parents == nil {
			parents = []string{}
		}
		doc.Nodes = append(doc.Nodes, nodeJSON{
			NodeID: n.NodeID, JobID: n.JobID, Kind: n.Kind, State: n.State,
			Attempt: n.Attempt, MaxAttempts: n.MaxAttempts, Parents: parents, Waiting: n.Waiting,
			LastError: n.LastError, Output: n.Output, AttemptedAt: n.AttemptedAt, FinalizedAt: n.FinalizedAt,
			ChildRunID: n.ChildRunID,
		})
	}
	for _, n := range tree.rows {
		doc.Tree = append(doc.Tree, treeNodeJSON{
			Path: n.Path, RunID: n.RunID, Depth: n.Depth, RunState: string(n.RunState),
			NodeID: n.NodeID, JobID: n.JobID, Kind: n.Kind, State: n.State, Attempt: n.Attempt,
			ChildRunID: n.ChildRunID, LastError: n.LastError, Output: n.Output,
		})
	}
	for _, r := range tree.runs {
		rj := treeRunJSON{
			ID: r.id, Depth: r.depth, State: string(r.state),
			NodeCount: len(r.nodes), NodeStates: map[string]int{},
			Subtree: subtreeJSON{Runs: 1 + r.belowRuns, Nodes: len(r.nodes) + r.belowNodes, NodeStates: map[string]int{}},
		}
		addCounts(rj.NodeStates, r.counts)
		addCounts(rj.Subtree.NodeStates, r.counts)
		addCounts(rj.Subtree.NodeStates, r.belowCounts)
		if r.parent != nil {
			rj.ParentRunID, rj.ParentJobID, rj.ParentPath = &r.parent.RunID, &r.parent.JobID, &r.parent.Path
		} else if r == tree.root {
			rj.ParentRunID, rj.ParentJobID = run.ParentRunID, run.ParentJobID
		}
		doc.Runs = append(doc.Runs, rj)
	}
	for _, l := range tree.levels() {
		doc.Levels = append(doc.Levels, levelJSON{Depth: l.depth, Runs: l.runs, Nodes: l.nodes, NodeStates: l.counts})
	}
	return writeJSON(w, doc)
}

func writeStatusText(w io.Writer, run *flow.Run, parentNode *string, tree *statusTree, view treeView, auto bool, width int, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)

	counts := tree.root.counts
	var parts []string
	for _, s := range orderedStates(counts) {
		parts = append(parts, fmt.Sprintf("%s %d", s, counts[s]))
	}
	duration := "-"
	if d, ok := runDuration(run, now); ok {
		duration = d.Round(time.Microsecond).String()
		if run.FinishedAt == nil {
			duration += " so far"
		}
	}
	fmt.Fprintf(tw, "run\t%d\n", run.ID)
	fmt.Fprintf(tw, "name\t%s\n", orDash(run.Name))
	fmt.Fprintf(tw, "state\t%s\n", run.State)
	if run.ParentRunID != nil {
		node := "?"
		if parentNode != nil {
			node = strconv.Quote(*parentNode)
		}
		fmt.Fprintf(tw, "parent\trun %d, node %s\n", *run.ParentRunID, node)
		fmt.Fprintf(tw, "top run\t%d (this run is at depth %d)\n", run.TopRunID, run.Depth)
	}
	fmt.Fprintf(tw, "nodes\t%d (%s; unfinished %d, failed %d)\n", run.NodeCount, strings.Join(parts, ", "), run.Unfinished, run.Failed)
	fmt.Fprintf(tw, "created\t%s\n", formatTime(&run.CreatedAt))
	fmt.Fprintf(tw, "started\t%s\n", formatTime(run.StartedAt))
	fmt.Fprintf(tw, "finished\t%s\n", formatTime(run.FinishedAt))
	fmt.Fprintf(tw, "duration\t%s\n", duration)
	fmt.Fprintf(tw, "input\t%s\n", orDash(truncate(compactJSON(run.Input), headerJSONWidth(width))))
	fmt.Fprintf(tw, "output\t%s\n", orDash(truncate(compactJSON(run.Output), headerJSONWidth(width))))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)

	lines, cut, _ := tree.render(view, -1)
	if err := writeTreeLines(w, lines, width); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := writeLevels(w, tree.levels()); err != nil {
		return err
	}
	if hints := cutHints(tree, view, cut, auto); len(hints) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.Join(hints, "\n"))
	}
	return nil
}

// headerJSONWidth caps the run's input and output in the header: the
// terminal's width less the label, or a generous line on a pipe.
func headerJSONWidth(width int) int {
	if width <= 0 {
		return maxLineRunes
	}
	return max(width-10, 20)
}

// cutHints say what the tree left out and how to see it.
func cutHints(tree *statusTree, view treeView, c cuts, auto bool) []string {
	var hints []string
	if c.levels {
		deepest := 0
		for _, r := range tree.runs {
			deepest = max(deepest, r.depth-tree.root.depth)
		}
		how := "--depth N or all for more"
		if auto {
			how = "--depth auto: what fits a screen; --depth N or all for more"
		}
		hints = append(hints, fmt.Sprintf("listed %d of the %d levels below run %d (%s)", view.depth, deepest, tree.root.id, how))
	}
	if c.nodes {
		hints = append(hints, fmt.Sprintf("listed at most %d nodes per run, failed and unfinished first (--max-nodes N, 0 for all)", view.maxNodes))
	}
	if len(hints) > 0 {
		hints = append(hints, "--json prints the whole tree")
	}
	return hints
}
func formatTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000 MST")
}

// compactJSON prints JSON on one line ("" for none or null).
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// truncate shortens s to at most n runes on one line, marking the cut, so a
// cell never breaks the table.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
