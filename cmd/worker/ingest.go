package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/jobs/ingest"
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
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if info, err := os.Stat(root); err != nil || !info.IsDir() {
		return usageError(cmd, fmt.Errorf("DIR %q: not a directory", dir))
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
	pool, err := a.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	fc := flow.NewClient(pool, nil)

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
	bar := newProgressBar(a.stderr, isTerminal(a.stderr) && !o.asJSON, begun)
	finished, err := watchIngest(waitCtx, pool, fc, run, flowRun, bar)
	if err == nil {
		// The run's end came on another connection than the progress: read
		// where the files stand once, so the last line is exact.
		if snap, serr := ingest.GetSnapshot(ctx, pool, run); serr == nil {
			bar.snapshot(snap)
		}
	}
	bar.finish()
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
		writeIngestReport(out, report, bar.failures(), elapsed, o.maxChanges)
	}
	if finished.State != flow.RunStateCompleted {
		return &exitError{code: waitFailed, err: fmt.Errorf("flow run %d %s; see worker status %d", flowRun, finished.State, flowRun)}
	}
	return nil
}

// watchIngest follows the run through LISTEN until its flow run finishes:
// ingest_progress drives the bar (after a snapshot read once the LISTEN is
// in place, and again after any reconnect), and flow.Client.Wait ends it.
func watchIngest(ctx context.Context, pool *pgxpool.Pool, fc *flow.Client, run, flowRun int64, bar *progressBar) (*flow.Run, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listener := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			return conn.Hijack(), nil
		},
		ReconnectDelay: 500 * time.Millisecond,
	}
	h := &progressHandler{run: run, bar: bar}
	listener.Handle(ingest.ProgressChannel, h)
	go func() { _ = listener.Listen(ctx) }()

	// Redraw now and then so the elapsed time and rate move between events
	// (no query: the numbers come from the notifications).
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				bar.draw(false)
			}
		}
	}()
	return fc.Wait(ctx, flowRun)
}

// progressHandler feeds ingest_progress notifications of one run to the bar.
type progressHandler struct {
	run int64
	bar *progressBar
}

// HandleBacklog catches up with what happened before the LISTEN (or during
// a reconnect).
func (h *progressHandler) HandleBacklog(ctx context.Context, _ string, conn *pgx.Conn) error {
	snap, err := ingest.GetSnapshot(ctx, conn, h.run)
	if err != nil {
		return nil //nolint:nilerr // the bar simply starts from the notifications
	}
	h.bar.snapshot(snap)
	return nil
}

func (h *progressHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var ev ingest.Event
	if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil || ev.Run != h.run {
		return nil //nolint:nilerr // another run's, or not ours to read
	}
	h.bar.event(&ev)
	return nil
}

// progressBar draws `files done / total, rate, failures` on stderr: redrawn
// in place on a terminal, otherwise a line at the plan and at every quarter.
type progressBar struct {
	w     io.Writer
	tty   bool
	start time.Time

	mu        sync.Mutex
	total     int
	dirs      int
	done      map[string]string // path → status
	failed    map[string]string // path → last error, for files that failed for good
	retries   int
	lastDrawn time.Time
	quarter   int  // last quarter printed, when not a terminal
	hinted    bool // the no-worker hint was printed, when not a terminal
	closed    bool
}

func newProgressBar(w io.Writer, tty bool, start time.Time) *progressBar {
	return &progressBar{w: w, tty: tty, start: start, done: map[string]string{}, failed: map[string]string{}}
}

func (b *progressBar) snapshot(s *ingest.Snapshot) {
	b.mu.Lock()
	if s.Planned > 0 {
		b.total, b.dirs = s.Planned, s.Dirs
	}
	for p, st := range s.Done {
		b.done[p] = st
	}
	b.mu.Unlock()
	b.draw(true)
}

func (b *progressBar) event(ev *ingest.Event) {
	b.mu.Lock()
	switch ev.Event {
	case ingest.EventPlanned:
		b.total, b.dirs = ev.Files, ev.Dirs
	case ingest.EventFile:
		b.done[ev.Path] = ev.Status
	case ingest.EventError:
		if ev.Final {
			b.failed[ev.Path] = ev.Step + ": " + ev.Error
		} else {
			b.retries++
		}
	}
	b.mu.Unlock()
	b.draw(false)
}

// failures returns the files that failed for good, sorted.
func (b *progressBar) failures() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.failed))
	for p, e := range b.failed {
		out = append(out, p+": "+e)
	}
	sort.Strings(out)
	return out
}

// draw redraws the bar; unless forced, at most every 50 ms on a terminal.
func (b *progressBar) draw(force bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	now := time.Now()
	if b.tty {
		if !force && now.Sub(b.lastDrawn) < 50*time.Millisecond {
			return
		}
		b.lastDrawn = now
		fmt.Fprintf(b.w, "\r%s\x1b[K", renderProgress(b.total, len(b.done), len(b.failed), b.retries, now.Sub(b.start), 24))
		return
	}
	if b.total == 0 {
		if elapsed := now.Sub(b.start); elapsed >= noWorkerHint && !b.hinted {
			b.hinted = true
			fmt.Fprintln(b.w, renderProgress(0, 0, 0, 0, elapsed, 24))
		}
		return
	}
	q := 4 * len(b.done) / b.total
	if q > b.quarter || (b.quarter == 0 && b.lastDrawn.IsZero()) {
		b.quarter = q
		b.lastDrawn = now
		fmt.Fprintln(b.w, renderProgress(b.total, len(b.done), len(b.failed), b.retries, now.Sub(b.start), 24))
	}
}

// finish draws the bar one last time and ends its line.
func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	line := renderProgress(b.total, len(b.done), len(b.failed), b.retries, time.Since(b.start), 24)
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\x1b[K\n", line)
	} else if b.total > 0 && b.quarter < 4 {
		fmt.Fprintln(b.w, line)
	}
}

// noWorkerHint is how long the walk may take before the progress line asks
// whether a worker is running at all.
const noWorkerHint = 5 * time.Second

// renderProgress is one line of the progress display:
//
//	[#########...............]  57/150 files  38%  212.4 files/s  1 failed  0.3s
func renderProgress(total, done, failed, retries int, elapsed time.Duration, width int) string {
	if total == 0 {
		if elapsed >= noWorkerHint {
			return fmt.Sprintf("waiting for a worker to walk the tree (is `worker run` running?)  %.1fs", elapsed.Seconds())
		}
		return fmt.Sprintf("walking the tree...  %.1fs", elapsed.Seconds())
	}
	fill := min(width, width*done/total)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "[%s%s] %*d/%d files %3d%%  %.1f files/s  %d failed",
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), len(fmt.Sprint(total)), done, total,
		100*done/total, rate, failed)
	if retries > 0 {
		fmt.Fprintf(&sb, " (%d retried)", retries)
	}
	fmt.Fprintf(&sb, "  %.1fs", elapsed.Seconds())
	return sb.String()
}

// writeIngestReport prints what a run changed and a summary table.
func writeIngestReport(w io.Writer, r *ingest.Report, failures []string, elapsed time.Duration, maxChanges int) {
	fmt.Fprintf(w, "ingest run %d of %s (%s): %s in %s, flow run %d\n", r.Run, r.Codebase, r.Root, r.State,
		elapsed.Round(time.Millisecond), r.FlowRun)
	fmt.Fprintf(w, "%d files walked: %d added, %d modified, %d unchanged, %d removed, %d skipped\n",
		r.FilesPlanned, r.Added, r.Modified, r.Unchanged, r.Removed, r.Skipped)
	fmt.Fprintf(w, "lines +%d -%d, symbols +%d -%d\n", r.LinesAdded, r.LinesRemoved, r.SymbolsAdded, r.SymbolsRemoved)

	if r.PreviousRun == 0 {
		fmt.Fprintf(w, "\nfirst run of this codebase\n")
	} else {
		fmt.Fprintf(w, "\nchanges since run %d:", r.PreviousRun)
		if len(r.Changes) == 0 {
			fmt.Fprint(w, " none")
		}
		fmt.Fprintln(w)
	}
	if r.PreviousRun != 0 || len(r.Changes) <= maxChanges || maxChanges == 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for i, c := range r.Changes {
			if maxChanges > 0 && i == maxChanges {
				fmt.Fprintf(tw, "  ... and %d more\n", len(r.Changes)-maxChanges)
				break
			}
			mark := map[string]string{"added": "A", "modified": "M", "removed": "D"}[c.Status]
			syms := ""
			if len(c.SymbolsAdded) > 0 {
				syms += " +" + strings.Join(limitStrings(c.SymbolsAdded, 4), ", +")
			}
			if len(c.SymbolsRemoved) > 0 {
				syms += " -" + strings.Join(limitStrings(c.SymbolsRemoved, 4), ", -")
			}
			reason := ""
			if c.Status == "removed" && c.Reason != "" {
				reason = " (" + c.Reason + ")"
			}
			fmt.Fprintf(tw, "  %s %s%s\t+%d -%d lines\t%s\n", mark, c.Path, reason, c.LinesAdded, c.LinesRemoved, strings.TrimSpace(syms))
		}
		tw.Flush()
	}

	if len(r.SkipReasons) > 0 {
		var parts []string
		for _, s := range r.SkipReasons {
			parts = append(parts, fmt.Sprintf("%s %d", s.Reason, s.Files))
		}
		fmt.Fprintf(w, "\nskipped: %s\n", strings.Join(parts, "; "))
	}
	if len(r.Pruned) > 0 {
		dirs := make([]string, 0, len(r.Pruned))
		for d := range r.Pruned {
			dirs = append(dirs, d)
		}
		sort.Strings(dirs)
		fmt.Fprintf(w, "not entered: %s\n", strings.Join(limitStrings(dirs, 8), ", "))
	}
	if len(failures) > 0 {
		fmt.Fprintf(w, "\nfailed:\n")
		for _, f := range failures {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}

	fmt.Fprintln(w)
	rows := [][]string{{"LANGUAGE", "FILES", "LINES", "SYMBOLS"}}
	for _, l := range r.Languages {
		rows = append(rows, []string{l.Language, fmt.Sprint(l.Files), fmt.Sprint(l.Lines), fmt.Sprint(l.Symbols)})
	}
	rows = append(rows, []string{"total", fmt.Sprint(r.Files), fmt.Sprint(r.Lines), fmt.Sprint(r.Symbols)})
	writeTable(w, rows)
}

// writeTable prints rows in columns, the first left-aligned and the others
// (numbers) right-aligned.
func writeTable(w io.Writer, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, row := range rows {
		var sb strings.Builder
		for i, c := range row {
			if i == 0 {
				fmt.Fprintf(&sb, "%-*s", widths[i], c)
			} else {
				fmt.Fprintf(&sb, "  %*s", widths[i], c)
			}
		}
		fmt.Fprintln(w, sb.String())
	}
}

// limitStrings returns at most n of s, with a "(N more)" last element.
func limitStrings(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("(%d more)", len(s)-n))
}
