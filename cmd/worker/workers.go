package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// workersCommand lists the fleet (flow.workers).
func (a *app) workersCommand() *cobra.Command {
	var (
		aliveOnly bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "workers",
		Short: "List the fleet: every worker process of the last day, its state and the jobs running on it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			client, closeClient, err := a.openClient(ctx)
			if err != nil {
				return err
			}
			defer closeClient()
			workers, err := client.Workers(ctx, aliveOnly)
			if err != nil {
				return migrateHint(err)
			}
			if asJSON {
				if workers == nil {
					workers = []*flow.WorkerInfo{}
				}
				return render.JSON(cmd.OutOrStdout(), workers)
			}
			return render.WorkersText(cmd.OutOrStdout(), workers, time.Now())
		},
	}
	cmd.Flags().BoolVar(&aliveOnly, "alive", false, "only the workers alive now")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the workers as a JSON array")
	return cmd
}
