package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
)

// retryCommand resumes a failed or cancelled run from its failure frontier
// (flow.retry) and returns at once; `worker wait` waits for the run.
func (a *app) retryCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "retry RUN_ID",
		Short: "Resume a failed or cancelled run: rerun its failed and cancelled nodes, not its completed ones",
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
			reset, err := client.Retry(ctx, runID)
			if err != nil {
				return migrateHint(err)
			}
			run, err := client.GetRun(ctx, runID)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"run_id": runID, "reset": reset, "state": run.State})
			}
			if reset == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "run %d is %s; nothing to retry\n", runID, run.State)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %d resumed: %d node(s) reset\n", runID, reset)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id", "reset", "state"} as JSON`)
	return cmd
}
