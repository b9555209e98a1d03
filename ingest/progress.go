package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"

	"github.com/htdag/htdag/flow"
)

// Watch follows ingest run run through LISTEN until its flow run flowRun
// finishes, and returns the finished flow run: ingest_progress drives bar
// (after a snapshot read once the LISTEN is in place, and again after any
// reconnect), and fc.Wait ends it. It returns ctx's error when ctx ends
// first; the run goes on.
func Watch(ctx context.Context, pool *pgxpool.Pool, fc *flow.Client, run, flowRun int64, bar *Progress) (*flow.Run, error) {
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
	listener.Handle(ProgressChannel, h)
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
	bar *Progress
}

// HandleBacklog catches up with what happened before the LISTEN (or during
// a reconnect).
func (h *progressHandler) HandleBacklog(ctx context.Context, _ string, conn *pgx.Conn) error {
	snap, err := GetSnapshot(ctx, conn, h.run)
	if err != nil {
		return nil //nolint:nilerr // the bar simply starts from the notifications
	}
	h.bar.Snapshot(snap)
	return nil
}

func (h *progressHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var ev Event
	if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil || ev.Run != h.run {
		return nil //nolint:nilerr // another run's, or not ours to read
	}
	h.bar.event(&ev)
	return nil
}

// Progress draws `files done / total, rate, failures` of a run on a
// writer (stderr for `worker ingest --wait`): redrawn in place on a
// terminal, otherwise a line when the plan is known and at every quarter.
// Watch feeds it; it is safe for concurrent use.
type Progress struct {
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

// NewProgress returns a progress display writing to w, redrawn in place when
// tty is true; start is when the run was started, for the rate.
func NewProgress(w io.Writer, tty bool, start time.Time) *Progress {
	return &Progress{w: w, tty: tty, start: start, done: map[string]string{}, failed: map[string]string{}}
}

// Snapshot brings the display up to s (what GetSnapshot read).
func (b *Progress) Snapshot(s *Snapshot) {
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

func (b *Progress) event(ev *Event) {
	b.mu.Lock()
	switch ev.Event {
	case EventPlanned:
		b.total, b.dirs = ev.Files, ev.Dirs
	case EventFile:
		b.done[ev.Path] = ev.Status
	case EventError:
		if ev.Final {
			b.failed[ev.Path] = ev.Step + ": " + ev.Error
		} else {
			b.retries++
		}
	}
	b.mu.Unlock()
	b.draw(false)
}

// Failures returns the files that failed for good, as "path: step: error", sorted.
func (b *Progress) Failures() []string {
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
func (b *Progress) draw(force bool) {
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

// Finish draws the display one last time and ends its line; later events
// draw nothing.
func (b *Progress) Finish() {
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
