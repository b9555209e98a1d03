package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// parseRunID reads a RUN_ID argument.
func parseRunID(cmd *cobra.Command, arg string) (int64, error) {
	runID, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || runID < 1 {
		return 0, usageError(cmd, fmt.Errorf("RUN_ID %q: want a positive integer", arg))
	}
	return runID, nil
}

// runAction is one control-plane action on a run: it reports whether it did
// anything (and how much, for --json), and the sentences to print.
type runAction struct {
	use, short string
	// act does the work; done is false when there was nothing to do.
	act func(ctx context.Context, client *flow.Client, runID int64) (done bool, count int, err error)
	// jsonKey names count in --json output ("" to leave it out); doneKey
	// names done.
	doneKey, jsonKey string
	// didText and noopText are printed for done and not done.
	didText  func(runID int64, count int) string
	noopText func(runID int64, state flow.RunState) string
}

// runActionCommand builds a command that takes a RUN_ID, runs the action and
// prints what happened (a line, or JSON with --json).
func (a *app) runActionCommand(ra runAction) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   ra.use,
		Short: ra.short,
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

			done, count, err := ra.act(ctx, client, runID)
			if err != nil {
				return migrateHint(err)
			}
			run, err := client.GetRun(ctx, runID)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				doc := map[string]any{"run_id": runID, ra.doneKey: done, "state": run.State}
				if ra.jsonKey != "" {
					doc[ra.jsonKey] = count
					delete(doc, ra.doneKey)
				}
				return render.JSON(out, doc)
			}
			if !done {
				fmt.Fprintln(out, ra.noopText(runID, run.State))
				return nil
			}
			fmt.Fprintln(out, ra.didText(runID, count))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	return cmd
}

// cancelCommand cancels a run (flow.cancel): what has not run is cancelled at
// once, running nodes through River's cancel. It returns without waiting for
// them to stop; `worker wait` does that.
func (a *app) cancelCommand() *cobra.Command {
	return a.runActionCommand(runAction{
		use:   "cancel RUN_ID",
		short: "Cancel every unfinished node of a run (the run ends cancelled)",
		act: func(ctx context.Context, client *flow.Client, runID int64) (bool, int, error) {
			cancelled, err := client.Cancel(ctx, runID)
			return cancelled, 0, err
		},
		doneKey: "cancelled",
		didText: func(runID int64, _ int) string {
			return fmt.Sprintf("run %d cancelled (running nodes stop through River's cancel; `worker wait %d` waits for them)", runID, runID)
		},
		noopText: func(runID int64, state flow.RunState) string {
			return fmt.Sprintf("run %d is already %s; nothing to cancel", runID, state)
		},
	})
}

// retryCommand resumes a failed or cancelled run from its failure frontier
// (flow.retry) and returns at once; `worker wait` waits for the run.
func (a *app) retryCommand() *cobra.Command {
	return a.runActionCommand(runAction{
		use:   "retry RUN_ID",
		short: "Resume a failed or cancelled run: rerun its failed and cancelled nodes, not its completed ones",
		act: func(ctx context.Context, client *flow.Client, runID int64) (bool, int, error) {
			reset, err := client.Retry(ctx, runID)
			return reset > 0, reset, err
		},
		doneKey: "retried",
		jsonKey: "reset",
		didText: func(runID int64, reset int) string {
			return fmt.Sprintf("run %d resumed: %d node(s) reset", runID, reset)
		},
		noopText: func(runID int64, state flow.RunState) string {
			return fmt.Sprintf("run %d is %s; nothing to retry", runID, state)
		},
	})
}
