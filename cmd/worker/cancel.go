package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
)

// cancelCommand cancels a run (flow.cancel): what has not run is cancelled at
// once, running nodes through River's cancel. It returns without waiting for
// them to stop; `worker wait` does that.
func (a *app) cancelCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Cancel every unfinished node of a run (the run ends cancelled)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runID, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || runID < 1 {
				return usageError(cmd, fmt.Errorf("RUN_ID %q: want a positive integer", args[0]))
			}
			ctx := cmd.Context()
			pool, err := a.openPool(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()

			client := flow.NewClient(pool, nil)
			cancelled, err := client.Cancel(ctx, runID)
			if err != nil {
				return migrateHint(err)
			}
			run, err := client.GetRun(ctx, runID)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"run_id": runID, "cancelled": cancelled, "state": run.State})
			}
			if !cancelled {
				fmt.Fprintf(cmd.OutOrStdout(), "run %d is already %s; nothing to cancel\n", runID, run.State)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %d cancelled (running nodes stop through River's cancel; `worker wait %d` waits for them)\n", runID, runID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id", "cancelled", "state"} as JSON`)
	return cmd
}
