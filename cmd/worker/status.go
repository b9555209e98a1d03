package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
)

// Column widths in the node table: long errors and outputs would make every
// row wrap; --json gives them whole.
const (
	maxErrorWidth  = 60
	maxOutputWidth = 60
)

// nodeStates orders the per-state counts as a node moves through them
// ("deleted": River's cleaner removed the finished job).
var nodeStates = []string{"pending", "scheduled", "available", "running", "retryable", "completed", "cancelled", "discarded", "deleted"}

// statusJSON is `status --json`'s document. It has its own snake_case tags
// rather than flow.Run's Go field names, as it is an interface for scripts.
type statusJSON struct {
	Run   runJSON    `json:"run"`
	Nodes []nodeJSON `json:"nodes"`
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
}

// statusCommand shows a run and its nodes, for people (a table) or scripts
// (--json).
func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status RUN_ID",
		Short: "Show a run and its nodes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runID, err := parseRunID(cmd, args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			client, closeClient, err := a.openClient(ctx)
			if err != nil {
				return err
			}
			defer closeClient()

			run, err := client.GetRun(ctx, runID)
			if err != nil {
				return fmt.Errorf("run %d: %w", runID, migrateHint(err))
			}
			nodes, err := client.Nodes(ctx, runID)
			if err != nil {
				return fmt.Errorf("run %d: reading nodes: %w", runID, migrateHint(err))
			}
			if asJSON {
				return writeStatusJSON(cmd.OutOrStdout(), run, nodes, time.Now())
			}
			return writeStatusText(cmd.OutOrStdout(), run, nodes, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object instead of a table")
	return cmd
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

func countStates(nodes []*flow.NodeInfo) map[string]int {
	counts := map[string]int{}
	for _, n := range nodes {
		counts[n.State]++
	}
	return counts
}

func writeStatusJSON(w io.Writer, run *flow.Run, nodes []*flow.NodeInfo, now time.Time) error {
	doc := statusJSON{
		Run: runJSON{
			ID: run.ID, Name: run.Name, State: string(run.State),
			NodeCount: run.NodeCount, Unfinished: run.Unfinished, Failed: run.Failed,
			NodeStates: countStates(nodes),
			Input:      run.Input, Output: run.Output,
			CreatedAt: run.CreatedAt, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt,
		},
		Nodes: make([]nodeJSON, 0, len(nodes)),
	}
	if d, ok := runDuration(run, now); ok {
		ms := float64(d) / float64(time.Millisecond)
		doc.Run.DurationMS = &ms
	}
	for _, n := range nodes {
		parents := n.Parents
		if parents == nil {
			parents = []string{}
		}
		doc.Nodes = append(doc.Nodes, nodeJSON{
			NodeID: n.NodeID, JobID: n.JobID, Kind: n.Kind, State: n.State,
			Attempt: n.Attempt, MaxAttempts: n.MaxAttempts, Parents: parents, Waiting: n.Waiting,
			LastError: n.LastError, Output: n.Output, AttemptedAt: n.AttemptedAt, FinalizedAt: n.FinalizedAt,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func writeStatusText(w io.Writer, run *flow.Run, nodes []*flow.NodeInfo, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)

	counts := countStates(nodes)
	var parts []string
	for _, s := range nodeStates {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, counts[s]))
		}
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
	fmt.Fprintf(tw, "nodes\t%d (%s; unfinished %d, failed %d)\n", run.NodeCount, strings.Join(parts, ", "), run.Unfinished, run.Failed)
	fmt.Fprintf(tw, "created\t%s\n", formatTime(&run.CreatedAt))
	fmt.Fprintf(tw, "started\t%s\n", formatTime(run.StartedAt))
	fmt.Fprintf(tw, "finished\t%s\n", formatTime(run.FinishedAt))
	fmt.Fprintf(tw, "duration\t%s\n", duration)
	fmt.Fprintf(tw, "input\t%s\n", orDash(compactJSON(run.Input)))
	fmt.Fprintf(tw, "output\t%s\n", orDash(compactJSON(run.Output)))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKIND\tSTATE\tATTEMPT\tPARENTS\tLAST ERROR\tOUTPUT")
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n",
			n.NodeID, orDash(n.Kind), n.State, n.Attempt, n.MaxAttempts,
			orDash(strings.Join(n.Parents, ",")),
			orDash(truncate(n.LastError, maxErrorWidth)),
			orDash(truncate(compactJSON(n.Output), maxOutputWidth)))
	}
	return tw.Flush()
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
