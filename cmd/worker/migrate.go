package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/ingest"
	"github.com/htdag/htdag/internal/migrate"
	"github.com/htdag/htdag/migrations"
)

// migrateCommand applies River's and htdag's migrations. migrations.Up takes
// an advisory lock, so several processes (e.g. every replica at boot) may
// run it at once; all but the first find nothing to do.
func (a *app) migrateCommand() *cobra.Command {
	var with []string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply River's and htdag's database migrations (safe to re-run)",
		Long: `migrate applies River's migrations, then the engine's. --with ingest also
applies those of the code-ingestion application (worker ingest does on first
use); a database where an older release installed ingestion adopts it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lines []migrate.Line
			for _, name := range with {
				if name != ingest.MigrationLineName {
					return usageError(cmd, fmt.Errorf("--with %q: the applications are: %s", name, ingest.MigrationLineName))
				}
				lines = append(lines, ingest.MigrationLine())
			}
			ctx := cmd.Context()
			// Directly: the migrations hold a session-level lock.
			pool, err := a.openDirectPool(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()

			res, err := migrations.Up(ctx, pool, a.slog, lines...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(res.RiverVersions) == 0 && len(res.Applied()) == 0 {
				fmt.Fprintln(out, "database is up to date")
				return nil
			}
			for _, v := range res.RiverVersions {
				fmt.Fprintf(out, "applied river %03d\n", v)
			}
			for _, line := range res.Lines {
				for _, v := range line.Adopted {
					fmt.Fprintf(out, "adopted %s %04d\n", line.Line, v)
				}
				for _, m := range line.Applied {
					fmt.Fprintf(out, "applied %s %04d_%s\n", line.Line, m.Version, m.Name)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&with, "with", nil, "also install an application's schema: ingest")
	return cmd
}
