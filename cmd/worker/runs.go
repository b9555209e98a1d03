package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
)

// runsCommand lists runs, newest first.
func (a *app) runsCommand() *cobra.Command {
	var (
		state  string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs, newest first (--state, --limit)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch flow.RunState(state) {
			case "", flow.RunStatePending, flow.RunStateRunning, flow.RunStateCompleted, flow.RunStateFailed, flow.RunStateCancelled:
			default:
				return usageError(cmd, fmt.Errorf("--state %q: want pending, running, completed, failed or cancelled", state))
			}
			ctx := cmd.Context()
			client, closeClient, err := a.openClient(ctx)
			if err != nil {
				return err
			}
			defer closeClient()

			runs, err := client.ListRuns(ctx, flow.RunState(state), limit)
			if err != nil {
				return migrateHint(err)
			}
			if asJSON {
				return writeRunsJSON(cmd.OutOrStdout(), runs, time.Now())
			}
			return writeRunsText(cmd.OutOrStdout(), runs, time.Now())
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only runs in this state")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many runs (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}

// writeJSON prints v as indented JSON: the --json output of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeRunsJSON(w io.Writer, runs []*flow.Run, now time.Time) error {
	out := make([]runJSON, 0, len(runs))
	for _, r := range runs {
		rj := runJSON{
			ID: r.ID, Name: r.Name, State: string(r.State),
			NodeCount: r.NodeCount, Unfinished: r.Unfinished, Failed: r.Failed,
			Input: r.Input, Output: r.Output,
			CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		}
		if d, ok := runDuration(r, now); ok {
			ms := float64(d) / float64(time.Millisecond)
			rj.DurationMS = &ms
		}
		out = append(out, rj)
	}
	return writeJSON(w, out)
}

func writeRunsText(w io.Writer, runs []*flow.Run, now time.Time) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tNODES\tUNFINISHED\tFAILED\tCREATED\tDURATION")
	for _, r := range runs {
		dur := "-"
		if d, ok := runDuration(r, now); ok {
			dur = d.Round(time.Millisecond).String()
		}
		name := r.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.ID, name, r.State, r.NodeCount, r.Unfinished, r.Failed,
			r.CreatedAt.UTC().Format("2006-01-02 15:04:05"), dur)
	}
	return tw.Flush()
}
