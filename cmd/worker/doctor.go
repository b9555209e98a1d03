package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// doctorCommand runs flow.check over every unfinished run (or one run) and
// prints what is wrong; it exits 1 when it finds anything.
func (a *app) doctorCommand() *cobra.Command {
	var (
		runID  int64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the engine's invariants: counts against jobs, stuck runs, lost releases (exit 1 if any)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			client, closeClient, err := a.openClient(ctx)
			if err != nil {
				return err
			}
			defer closeClient()

			problems, err := client.Check(ctx, runID)
			if err != nil {
				return migrateHint(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if problems == nil {
					problems = []flow.Problem{}
				}
				err = render.JSON(out, problems)
			} else {
				err = render.ProblemsText(out, problems)
			}
			if err != nil || len(problems) == 0 {
				return err
			}
			return &exitError{code: 1, err: fmt.Errorf("%d problem(s) found", len(problems))}
		},
	}
	cmd.Flags().Int64Var(&runID, "run", 0, "check this run only (any state); default: every unfinished run")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the problems as a JSON array")
	return cmd
}
