package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// maxSpecBytes bounds what `start` reads, so a wrong file (or an endless
// pipe) fails with a message instead of exhausting memory.
const maxSpecBytes = 256 << 20

// startCommand starts a run from a JSON spec and prints only its id, so that
// scripts can do `id=$(worker start spec.json)`.
func (a *app) startCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "start FILE|-",
		Short: "Start a run from a JSON workflow spec (FILE, or - for stdin); prints the run id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := a.readSpec(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			client, closeClient, err := a.openClient(ctx)
			if err != nil {
				return err
			}
			defer closeClient()

			runID, err := client.Start(ctx, flow.JSONSpec(spec))
			if err != nil {
				var specErr *flow.SpecError
				if errors.As(err, &specErr) {
					// The message already says "invalid workflow spec: ...".
					return &exitError{code: 1, err: fmt.Errorf("%s: %w", specName(args[0]), err)}
				}
				return fmt.Errorf("starting run: %w", migrateHint(err))
			}
			if asJSON {
				return render.JSON(cmd.OutOrStdout(), map[string]int64{"run_id": runID})
			}
			fmt.Fprintln(cmd.OutOrStdout(), runID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id": N} instead of the bare id`)
	return cmd
}

// readSpec reads the spec from a file, or from stdin for "-".
func (a *app) readSpec(name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = a.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	spec, err := io.ReadAll(io.LimitReader(r, maxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", specName(name), err)
	}
	if len(spec) > maxSpecBytes {
		return nil, fmt.Errorf("reading %s: the spec is larger than %d MB", specName(name), maxSpecBytes>>20)
	}
	return spec, nil
}

// specName names the spec's source in messages.
func specName(arg string) string {
	if arg == "-" {
		return "stdin"
	}
	return arg
}
