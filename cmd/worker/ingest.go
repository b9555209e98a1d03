package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/ingest"
)

// ingestOptions are `worker ingest`'s flags.
type ingestOptions struct {
	codebase    string
	wait        bool
	timeout     time.Duration
	maxFileSize int64
	maxChanges  int
	asJSON      bool
}

func (a *app) ingestCommand() *cobra.Command {
	var o ingestOptions
	cmd := &cobra.Command{
		Use:   "ingest DIR",
		Short: "Ingest a directory tree: files, symbols and chunks, and what changed since the last run",
		Long: `ingest starts one run that ingests the tree under DIR into the ingest schema
(a worker must be running: worker run). Files whose content hash did not
change since the codebase's last run are not parsed again; files gone from
the tree are recorded as removed. See docs/INGEST.md.

Without --wait it prints the flow run id (for worker wait / status). With
--wait it shows a progress bar on stderr, driven by the ingest_progress
notifications, then prints what changed since the last run and a summary.

Exit codes with --wait: 0 completed, 1 failed or cancelled, 2 timeout or error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.ingest(cmd, args[0], &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.codebase, "codebase", "", "codebase id (default: the absolute path of DIR)")
	f.BoolVar(&o.wait, "wait", false, "show progress, wait for the run and print what changed")
	f.DurationVar(&o.timeout, "timeout", 0, "with --wait, give up waiting after this long (0: wait forever)")
	f.Int64Var(&o.maxFileSize, "max-file-size", ingest.DefaultMaxFileSize, "skip files larger than this many bytes")
	f.IntVar(&o.maxChanges, "max-changes", 30, "with --wait, list at most this many changed files (0: all)")
	f.BoolVar(&o.asJSON, "json", false, `print JSON: {"run", "flow_run"}, or with --wait the run's report`)
	return cmd
}

func (a *app) ingest(cmd *cobra.Command, dir string, o *ingestOptions) error {
	root, err := ingest.Root(dir)
	if err != nil {
		return usageError(cmd, err)
	}
	if o.codebase == "" {
		o.codebase = root
	}
	if o.maxFileSize < 1 {
		return usageError(cmd, fmt.Errorf("--max-file-size must be at least 1"))
	}
	if o.timeout < 0 {
		return usageError(cmd, fmt.Errorf("--timeout must not be negative"))
	}
	ctx := cmd.Context()
	// Directly: ingestion's first use migrates (a session lock), and its
	// progress and wait LISTEN.
	pool, err := a.openDirectPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	fc := flow.NewClient(pool, nil)

	// The first ingestion installs ingestion's schema (its own migration
	// line); the engine's must be there (worker migrate).
	installed, err := ingest.Install(ctx, pool, a.slog)
	if err != nil {
		return migrateHint(err)
	}
	for _, v := range installed.Adopted {
		a.log.Info().Int("version", v).Msg("ingest migration adopted")
	}

	begun := time.Now()
	run, flowRun, err := ingest.Start(ctx, pool, fc, ingest.CodebaseArgs{
		Codebase: o.codebase, Root: root, MaxFileSize: o.maxFileSize,
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55006" {
		return fmt.Errorf("%s (%s)", pgErr.Message, pgErr.Hint)
	}
	if err != nil {
		return migrateHint(err)
	}
	a.log.Info().Int64("ingest_run", run).Int64("flow_run", flowRun).Str("codebase", o.codebase).Str("root", root).
		Msg("ingestion started")
	out := cmd.OutOrStdout()
	if !o.wait {
		if o.asJSON {
			return writeJSON(out, map[string]int64{"run": run, "flow_run": flowRun})
		}
		_, err := fmt.Fprintln(out, flowRun)
		return err
	}

	waitCtx := ctx
	if o.timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	bar := ingest.NewProgress(a.stderr, isTerminal(a.stderr) && !o.asJSON, begun)
	finished, err := ingest.Watch(waitCtx, pool, fc, run, flowRun, bar)
	if err == nil {
		// The run's end came on another connection than the progress: read
		// where the files stand once, so the last line is exact.
		if snap, serr := ingest.GetSnapshot(ctx, pool, run); serr == nil {
			bar.Snapshot(snap)
		}
	}
	bar.Finish()
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return &exitError{code: waitUnknown, err: fmt.Errorf("ingest run %d (flow run %d) not finished after %s", run, flowRun, o.timeout)}
	case ctx.Err() != nil:
		return &exitError{code: waitUnknown, err: fmt.Errorf("ingest run %d (flow run %d): wait interrupted; it goes on", run, flowRun)}
	default:
		return &exitError{code: waitUnknown, err: err}
	}

	report, err := ingest.GetReport(context.WithoutCancel(ctx), pool, run)
	if err != nil {
		return &exitError{code: waitUnknown, err: err}
	}
	elapsed := time.Since(begun)
	if o.asJSON {
		doc := struct {
			*ingest.Report
			FlowState  flow.RunState `json:"flow_state"`
			DurationMS float64       `json:"duration_ms"`
		}{report, finished.State, float64(elapsed) / float64(time.Millisecond)}
		if err := writeJSON(out, doc); err != nil {
			return err
		}
	} else {
		ingest.WriteReport(out, report, bar.Failures(), elapsed, o.maxChanges)
	}
	if finished.State != flow.RunStateCompleted {
		return &exitError{code: waitFailed, err: fmt.Errorf("flow run %d %s; see worker status %d", flowRun, finished.State, flowRun)}
	}
	return nil
}
