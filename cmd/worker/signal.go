package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/internal/render"
)

// signalCommand completes a wait node with a payload (flow.signal), as an
// approval tool or a webhook handler would: the payload becomes the node's
// output, and its children are released at once.
func (a *app) signalCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "signal RUN_ID NODE_ID [PAYLOAD]",
		Short: "Complete a wait node with a JSON payload (its output; default null), as flow.signal does",
		Long: `signal completes the wait node NODE_ID of run RUN_ID, which must be waiting
for a signal (see README "Signals and waits"), with PAYLOAD, a JSON value
(default null), as its output; its children are released in the same
transaction. A node that does not wait is refused, saying why.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			runID, err := parseRunID(cmd, args[0])
			if err != nil {
				return err
			}
			payload := json.RawMessage("null")
			if len(args) == 3 {
				if !json.Valid([]byte(args[2])) {
					return usageError(cmd, fmt.Errorf("PAYLOAD %q is not JSON (quote a string: '\"yes\"')", args[2]))
				}
				payload = json.RawMessage(args[2])
			}
			ctx := cmd.Context()
			client, closeClient, err := a.openClient(ctx)
			if err != nil {
				return err
			}
			defer closeClient()
			if err := client.Signal(ctx, runID, args[1], payload); err != nil {
				return migrateHint(err) // a node that does not wait: *flow.NotWaitingError says why
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return render.JSON(out, map[string]any{"run_id": runID, "node_id": args[1], "signalled": true})
			}
			fmt.Fprintf(out, "node %q of run %d signalled (`worker wait %d` waits for the run)\n", args[1], runID, runID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	return cmd
}
