package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Report is what a run found and changed, for `worker ingest` to print.
type Report struct {
	Run            int64             `json:"run"`
	FlowRun        int64             `json:"flow_run"`
	Codebase       string            `json:"codebase"`
	Root           string            `json:"root"`
	State          string            `json:"state"`
	StartedAt      time.Time         `json:"started_at"`
	FinishedAt     *time.Time        `json:"finished_at"`
	PreviousRun    int64             `json:"previous_run,omitempty"` // the last completed run before this one
	FilesPlanned   int               `json:"files_planned"`
	Added          int               `json:"added"`
	Modified       int               `json:"modified"`
	Unchanged      int               `json:"unchanged"`
	Removed        int               `json:"removed"`
	Skipped        int               `json:"skipped"`
	Files          int               `json:"files"`
	Lines          int64             `json:"lines"`
	Symbols        int64             `json:"symbols"`
	LinesAdded     int64             `json:"lines_added"`
	LinesRemoved   int64             `json:"lines_removed"`
	SymbolsAdded   int64             `json:"symbols_added"`
	SymbolsRemoved int64             `json:"symbols_removed"`
	Languages      []LanguageCount   `json:"languages"`
	Changes        []FileChange      `json:"changes"`
	SkipReasons    []ReasonCount     `json:"skip_reasons"`
	Pruned         map[string]string `json:"pruned,omitempty"`
}

// LanguageCount is the current files of one language after a run.
type LanguageCount struct {
	Language string `json:"language"`
	Files    int    `json:"files"`
	Lines    int64  `json:"lines"`
	Symbols  int64  `json:"symbols"`
}

// FileChange is a file a run added, modified or removed.
type FileChange struct {
	Path           string   `json:"path"`
	Status         string   `json:"status"`
	Reason         string   `json:"reason,omitempty"`
	LinesAdded     int      `json:"lines_added"`
	LinesRemoved   int      `json:"lines_removed"`
	SymbolsAdded   []string `json:"symbols_added"`
	SymbolsRemoved []string `json:"symbols_removed"`
}

// ReasonCount counts skipped files by reason (.gitignore rules grouped by
// file).
type ReasonCount struct {
	Reason string `json:"reason"`
	Files  int    `json:"files"`
}

// ErrNoRun is returned by GetReport for an unknown run.
var ErrNoRun = errors.New("no such ingest run")

// GetReport reads a run's report.
func GetReport(ctx context.Context, pool *pgxpool.Pool, run int64) (*Report, error) {
	r := &Report{Run: run}
	var flowRun *int64
	var planned, added, modified, unchanged, removed, skipped, files *int
	var lines, symbols, linesAdded, linesRemoved, symbolsAdded, symbolsRemoved *int64
	err := pool.QueryRow(ctx, `
		SELECT r.codebase, r.root, r.state, r.flow_run_id, r.started_at, r.finished_at, r.files_planned,
		       r.added, r.modified, r.unchanged, r.removed, r.skipped, r.files, r.lines, r.symbols,
		       r.lines_added, r.lines_removed, r.symbols_added, r.symbols_removed,
		       coalesce((SELECT max(p.id) FROM ingest.run p WHERE p.codebase_id = r.codebase AND p.id < r.id AND p.state = 'completed'), 0),
		       coalesce((SELECT pruned FROM ingest.run WHERE id = r.id), '{}')
		  FROM ingest.runs r WHERE r.id = $1`, run).
		Scan(&r.Codebase, &r.Root, &r.State, &flowRun, &r.StartedAt, &r.FinishedAt, &planned,
			&added, &modified, &unchanged, &removed, &skipped, &files, &lines, &symbols,
			&linesAdded, &linesRemoved, &symbolsAdded, &symbolsRemoved, &r.PreviousRun, &r.Pruned)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %d: %w", run, ErrNoRun)
	}
	if err != nil {
		return nil, err
	}
	deref := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	if flowRun != nil {
		r.FlowRun = *flowRun
	}
	r.FilesPlanned, r.Added, r.Modified, r.Unchanged = deref(planned), deref(added), deref(modified), deref(unchanged)
	r.Removed, r.Skipped, r.Files = deref(removed), deref(skipped), deref(files)
	deref64 := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	r.Lines, r.Symbols = deref64(lines), deref64(symbols)
	r.LinesAdded, r.LinesRemoved = deref64(linesAdded), deref64(linesRemoved)
	r.SymbolsAdded, r.SymbolsRemoved = deref64(symbolsAdded), deref64(symbolsRemoved)

	rows, err := pool.Query(ctx, `
		SELECT language, count(*), sum(lines), sum(symbols) FROM ingest.current_files
		 WHERE codebase = $1 GROUP BY language ORDER BY sum(lines) DESC, language`, r.Codebase)
	if err != nil {
		return nil, err
	}
	if r.Languages, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (LanguageCount, error) {
		var l LanguageCount
		err := row.Scan(&l.Language, &l.Files, &l.Lines, &l.Symbols)
		return l, err
	}); err != nil {
		return nil, err
	}

	rows, err = pool.Query(ctx, `
		SELECT path, status, coalesce(reason, ''), lines_added, lines_removed, symbols_added, symbols_removed
		  FROM ingest.run_file WHERE run_id = $1 AND status IN ('added', 'modified', 'removed') ORDER BY path`, run)
	if err != nil {
		return nil, err
	}
	if r.Changes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (FileChange, error) {
		var c FileChange
		err := row.Scan(&c.Path, &c.Status, &c.Reason, &c.LinesAdded, &c.LinesRemoved, &c.SymbolsAdded, &c.SymbolsRemoved)
		return c, err
	}); err != nil {
		return nil, err
	}

	rows, err = pool.Query(ctx, `
		SELECT regexp_replace(reason, '^(ignored by \S*\.gitignore):.*$', '\1') AS why, count(*)
		  FROM ingest.run_file WHERE run_id = $1 AND status = 'skipped' GROUP BY why ORDER BY count(*) DESC, why`, run)
	if err != nil {
		return nil, err
	}
	if r.SkipReasons, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReasonCount, error) {
		var c ReasonCount
		err := row.Scan(&c.Reason, &c.Files)
		return c, err
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// Snapshot is where a run stands, read from the database: what the progress
// display starts from (and catches up with after a reconnect) before the
// notifications take over.
type Snapshot struct {
	Planned int               // files planned, 0 until the walk is done
	Dirs    int               // directories planned
	Done    map[string]string // path → status, for every file whose store committed
}

// GetSnapshot reads a run's snapshot.
func GetSnapshot(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, run int64) (*Snapshot, error) {
	s := &Snapshot{Done: map[string]string{}}
	var planned, dirs *int
	var paths, statuses []string
	err := q.QueryRow(ctx, `
		SELECT files_planned, dirs_planned,
		       coalesce((SELECT array_agg(path ORDER BY path) FROM ingest.run_file WHERE run_id = $1 AND reason IS DISTINCT FROM $2), '{}'),
		       coalesce((SELECT array_agg(status ORDER BY path) FROM ingest.run_file WHERE run_id = $1 AND reason IS DISTINCT FROM $2), '{}')
		  FROM ingest.run WHERE id = $1`, run, ReasonGone).Scan(&planned, &dirs, &paths, &statuses)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %d: %w", run, ErrNoRun)
	}
	if err != nil {
		return nil, err
	}
	if planned != nil {
		s.Planned = *planned
	}
	if dirs != nil {
		s.Dirs = *dirs
	}
	for i, p := range paths {
		s.Done[p] = statuses[i]
	}
	return s, nil
}
