package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// Exit codes of `worker wait`: a script needs to tell a run that failed
// (its work is wrong) from a wait that could not say (try again later).
const (
	waitCompleted = 0 // the run completed
	waitFailed    = 1 // the run failed or was cancelled
	waitUnknown   = 2 // timeout, unknown run, bad arguments, database error
)

// waitCommand blocks until a run finishes and prints its state and output.
func (a *app) waitCommand() *cobra.Command {
	var (
		timeout time.Duration
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "wait RUN_ID",
		Short: "Wait for a run to finish; exit 0 completed, 1 failed/cancelled, 2 timeout or error",
		Long: `wait blocks until the run finishes, then prints its final state and, on a
second line, its output (the sink nodes' outputs by node id) as JSON.

Exit codes: 0 completed, 1 failed or cancelled, 2 timeout or any error.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return &exitError{code: waitUnknown, err: usageError(cmd, err)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// Every failure to learn the outcome is "unknown" (2), never 1.
			code, err := a.wait(cmd, args[0], timeout, asJSON)
			if err != nil || code != 0 {
				return &exitError{code: code, err: err}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: waitUnknown, err: usageError(cmd, err)}
	})
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait forever)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id", "state", "output"} as JSON`)
	return cmd
}

func (a *app) wait(cmd *cobra.Command, arg string, timeout time.Duration, asJSON bool) (int, error) {
	runID, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || runID < 1 {
		return waitUnknown, usageError(cmd, fmt.Errorf("RUN_ID %q: want a positive integer", arg))
	}
	if timeout < 0 {
		return waitUnknown, usageError(cmd, fmt.Errorf("--timeout must not be negative"))
	}
	ctx := cmd.Context()
	client, closeClient, err := a.openClient(ctx)
	if err != nil {
		return waitUnknown, err
	}
	defer closeClient()

	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// Read the run first: an unknown run or an unmigrated database fails
	// here at once with a clear error, and a finished run needs no LISTEN.
	run, err := client.GetRun(waitCtx, runID)
	if err == nil && !run.State.Finished() {
		run, err = client.Wait(waitCtx, runID)
	}
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		// Say where the run stands, so the user knows whether it moves.
		state := "unknown"
		if r, err := client.GetRun(context.WithoutCancel(ctx), runID); err == nil {
			state = string(r.State)
		}
		return waitUnknown, fmt.Errorf("run %d not finished after %s (state %s)", runID, timeout, state)
	case ctx.Err() != nil:
		return waitUnknown, fmt.Errorf("run %d: wait interrupted", runID)
	default:
		return waitUnknown, fmt.Errorf("run %d: %w", runID, migrateHint(err))
	}

	out := cmd.OutOrStdout()
	if asJSON {
		if err := render.JSON(out, map[string]any{"run_id": run.ID, "state": run.State, "output": run.Output}); err != nil {
			return waitUnknown, err
		}
	} else {
		fmt.Fprintln(out, run.State)
		if len(run.Output) > 0 {
			fmt.Fprintln(out, render.Clean(string(run.Output)))
		}
	}
	if run.State == flow.RunStateCompleted {
		return waitCompleted, nil
	}
	return waitFailed, nil
}
