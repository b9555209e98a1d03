package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// runsCommand lists top runs, newest first, with their trees' totals.
func (a *app) runsCommand() *cobra.Command {
	var (
		state  string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List top runs, newest first (--state, --limit)",
		Long: `runs lists top runs (not the child runs of sub-workflows, maps and
expansions), newest first. RUNS, NODES, UNFINISHED and FAILED count the
run's whole tree: itself and every run below it (` + "`worker status RUN`" + ` shows it).`,
		Args: cobra.NoArgs,
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
			ids := make([]int64, len(runs))
			for i, r := range runs {
				ids[i] = r.ID
			}
			totals, err := client.TreeTotals(ctx, ids)
			if err != nil {
				return migrateHint(err)
			}
			if asJSON {
				return render.RunsJSON(cmd.OutOrStdout(), runs, totals, time.Now())
			}
			return render.RunsText(cmd.OutOrStdout(), runs, totals, time.Now())
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only runs in this state")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many runs (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}
