package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/htdag/htdag/ingest/parse"
)

// ReasonGone is the reason ingest.finish_run records for a file that was
// current and is no longer in the tree.
const ReasonGone = "no longer in the tree"

// Statuses of a file in a run (ingest.run_file.status).
const (
	StatusAdded     = "added"
	StatusModified  = "modified"
	StatusUnchanged = "unchanged"
	StatusRemoved   = "removed"
	StatusSkipped   = "skipped"
)

// currentVersion is a file's current version, as the store step sees it.
type currentVersion struct {
	id    int64
	hash  string
	lines int
}

// lockCurrent returns (and locks) the file's row id and current version, if
// any, creating the file row when asked.
func lockCurrent(ctx context.Context, tx pgx.Tx, codebase, path string, create bool) (int64, *currentVersion, error) {
	var fileID int64
	var err error
	if create {
		err = tx.QueryRow(ctx, `
			INSERT INTO ingest.file (codebase_id, path) VALUES ($1, $2)
			ON CONFLICT (codebase_id, path) DO UPDATE SET path = excluded.path
			RETURNING id`, codebase, path).Scan(&fileID)
	} else {
		err = tx.QueryRow(ctx, `SELECT id FROM ingest.file WHERE codebase_id = $1 AND path = $2 FOR UPDATE`,
			codebase, path).Scan(&fileID)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, nil
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("file row: %w", err)
	}
	cur := &currentVersion{}
	err = tx.QueryRow(ctx, `
		SELECT id, hash, lines FROM ingest.file_version
		 WHERE file_id = $1 AND until_run_id IS NULL FOR UPDATE`, fileID).Scan(&cur.id, &cur.hash, &cur.lines)
	if errors.Is(err, pgx.ErrNoRows) {
		return fileID, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("current version: %w", err)
	}
	return fileID, cur, nil
}

// runFile is one ingest.run_file row.
type runFile struct {
	Run            int64
	Path, Dir      string
	Status, Reason string
	VersionID      int64
	LinesAdded     int
	LinesRemoved   int
	SymbolsAdded   []string
	SymbolsRemoved []string
}

// record writes the run_file row and announces the file on ProgressChannel;
// both commit with the store step.
func (rf *runFile) record(ctx context.Context, tx pgx.Tx) error {
	var reason *string
	if rf.Reason != "" {
		reason = &rf.Reason
	}
	var version *int64
	if rf.VersionID != 0 {
		version = &rf.VersionID
	}
	ev, _ := json.Marshal(Event{Run: rf.Run, Event: EventFile, Path: rf.Path, Status: rf.Status, Reason: rf.Reason})
	_, err := tx.Exec(ctx, `
		WITH ins AS (
			INSERT INTO ingest.run_file (run_id, path, dir, status, reason, version_id, lines_added, lines_removed,
			                             symbols_added, symbols_removed)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		)
		SELECT pg_notify($11, $12)`,
		rf.Run, rf.Path, rf.Dir, rf.Status, reason, version, rf.LinesAdded, rf.LinesRemoved,
		nonNil(rf.SymbolsAdded), nonNil(rf.SymbolsRemoved), ProgressChannel, string(ev))
	if err != nil {
		return fmt.Errorf("recording %s as %s: %w", rf.Path, rf.Status, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// versionInput is what the store step writes for a file whose content is new.
type versionInput struct {
	Run      int64
	Codebase string
	Path     string
	Dir      string
	Hash     string
	Content  []byte
	Language string
	Parsed   *parse.Parsed
	Chunks   []parse.Chunk
}

// storeVersion stores a new version of a file (with its symbols and chunks),
// ends the version it replaces, and records what changed. A content equal to
// the current version's is recorded as unchanged instead. It returns the
// status recorded.
func storeVersion(ctx context.Context, tx pgx.Tx, in *versionInput) (string, error) {
	fileID, cur, err := lockCurrent(ctx, tx, in.Codebase, in.Path, true)
	if err != nil {
		return "", err
	}
	rf := &runFile{Run: in.Run, Path: in.Path, Dir: in.Dir}
	if cur != nil && cur.hash == in.Hash {
		rf.Status, rf.VersionID = StatusUnchanged, cur.id
		return rf.Status, rf.record(ctx, tx)
	}
	p := in.Parsed
	var oldKeys []string
	var oldContent string
	if cur != nil {
		// The previous content, for the line diff, and its symbols' keys.
		if err := tx.QueryRow(ctx, `
			SELECT content, coalesce((SELECT array_agg(key ORDER BY ordinal) FROM ingest.symbol WHERE version_id = $1), '{}')
			  FROM ingest.file_version WHERE id = $1`, cur.id).Scan(&oldContent, &oldKeys); err != nil {
			return "", fmt.Errorf("reading the previous version: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE ingest.file_version SET until_run_id = $1 WHERE id = $2`, in.Run, cur.id); err != nil {
			return "", fmt.Errorf("ending the previous version: %w", err)
		}
	}
	var pkg, parseErr *string
	if p.Package != "" {
		pkg = &p.Package
	}
	if p.Error != "" {
		parseErr = &p.Error
	}
	var versionID int64
	if err := tx.QueryRow(ctx, `
		INSERT INTO ingest.file_version (file_id, run_id, hash, size, lines, language, package, imports, symbols, parse_error, content)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		fileID, in.Run, in.Hash, len(in.Content), p.Lines, in.Language, pkg, nonNil(p.Imports), len(p.Symbols), parseErr,
		string(in.Content)).Scan(&versionID); err != nil {
		return "", fmt.Errorf("storing the version: %w", err)
	}
	if len(p.Symbols) > 0 {
		rows := make([][]any, len(p.Symbols))
		for i, s := range p.Symbols {
			var parent *string
			if s.Parent != "" {
				parent = &s.Parent
			}
			rows[i] = []any{versionID, i + 1, s.Kind, s.Name, parent, s.Start, s.End}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ingest", "symbol"},
			[]string{"version_id", "ordinal", "kind", "name", "parent", "start_line", "end_line"},
			pgx.CopyFromRows(rows)); err != nil {
			return "", fmt.Errorf("storing symbols: %w", err)
		}
	}
	if len(in.Chunks) > 0 {
		rows := make([][]any, len(in.Chunks))
		for i, c := range in.Chunks {
			var sym *string
			if c.Symbol != "" {
				sym = &c.Symbol
			}
			rows[i] = []any{versionID, i + 1, c.Start, c.End, sym, string(in.Content[c.From:c.To])}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ingest", "chunk"},
			[]string{"version_id", "ordinal", "start_line", "end_line", "symbol", "content"},
			pgx.CopyFromRows(rows)); err != nil {
			return "", fmt.Errorf("storing chunks: %w", err)
		}
	}

	newKeys := make([]string, len(p.Symbols))
	for i, s := range p.Symbols {
		newKeys[i] = s.Key()
	}
	rf.VersionID = versionID
	rf.SymbolsAdded, rf.SymbolsRemoved = keyChanges(oldKeys, newKeys)
	if cur == nil {
		rf.Status, rf.LinesAdded = StatusAdded, p.Lines
	} else {
		rf.Status = StatusModified
		rf.LinesAdded, rf.LinesRemoved = parse.LineChanges([]byte(oldContent), in.Content)
	}
	return rf.Status, rf.record(ctx, tx)
}

// keyChanges returns the keys of cur not in old and of old not in cur, each
// once, in their order.
func keyChanges(old, cur []string) (added, removed []string) {
	inOld := make(map[string]bool, len(old))
	for _, k := range old {
		inOld[k] = true
	}
	inCur := make(map[string]bool, len(cur))
	for _, k := range cur {
		inCur[k] = true
	}
	seen := map[string]bool{}
	for _, k := range cur {
		if !inOld[k] && !seen[k] {
			added = append(added, k)
			seen[k] = true
		}
	}
	for _, k := range old {
		if !inCur[k] && !seen[k] {
			removed = append(removed, k)
			seen[k] = true
		}
	}
	return added, removed
}

// storeUnchanged records a file whose content hash equals its current
// version's. If the version is no longer current (something else changed it
// since the walk), the file is recorded as skipped and left to the next run.
func storeUnchanged(ctx context.Context, tx pgx.Tx, run int64, codebase, path, dir, hash string) (string, error) {
	_, cur, err := lockCurrent(ctx, tx, codebase, path, false)
	if err != nil {
		return "", err
	}
	rf := &runFile{Run: run, Path: path, Dir: dir}
	if cur == nil || cur.hash != hash {
		rf.Status, rf.Reason = StatusSkipped, "its stored version changed during the run; ingest again"
	} else {
		rf.Status, rf.VersionID = StatusUnchanged, cur.id
	}
	return rf.Status, rf.record(ctx, tx)
}

// storeSkipped records a file that is not stored. If it had a current
// version (it became empty, binary, ignored, too large...), that version
// ends here and the file is recorded as removed, for the reason given.
func storeSkipped(ctx context.Context, tx pgx.Tx, run int64, codebase, path, dir, reason string) (string, error) {
	_, cur, err := lockCurrent(ctx, tx, codebase, path, false)
	if err != nil {
		return "", err
	}
	rf := &runFile{Run: run, Path: path, Dir: dir, Reason: reason}
	if cur == nil {
		rf.Status = StatusSkipped
		return rf.Status, rf.record(ctx, tx)
	}
	rows, err := tx.Query(ctx, `SELECT key FROM ingest.symbol WHERE version_id = $1 ORDER BY ordinal`, cur.id)
	if err != nil {
		return "", err
	}
	if rf.SymbolsRemoved, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `UPDATE ingest.file_version SET until_run_id = $1 WHERE id = $2`, run, cur.id); err != nil {
		return "", err
	}
	rf.Status, rf.VersionID, rf.LinesRemoved = StatusRemoved, cur.id, cur.lines
	return rf.Status, rf.record(ctx, tx)
}

// summarizeDir is the summary step: ingest.summarize_dir.
func summarizeDir(ctx context.Context, tx pgx.Tx, run int64, dir string) (json.RawMessage, error) {
	var out json.RawMessage
	err := tx.QueryRow(ctx, `SELECT ingest.summarize_dir($1, $2)`, run, dir).Scan(&out)
	return out, err
}

// finishRun is the index step: ingest.finish_run.
func finishRun(ctx context.Context, tx pgx.Tx, run int64) (*Indexed, error) {
	var out Indexed
	var raw []byte
	if err := tx.QueryRow(ctx, `SELECT ingest.finish_run($1)`, run).Scan(&raw); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BeginRun records a new run of a codebase inside tx (see ingest.begin_run)
// and returns its id.
func BeginRun(ctx context.Context, tx pgx.Tx, codebase, root string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT ingest.begin_run($1, $2)`, codebase, root).Scan(&id)
	return id, err
}

// SetFlowRun links the run to the flow run doing it.
func SetFlowRun(ctx context.Context, tx pgx.Tx, run, flowRun int64) error {
	_, err := tx.Exec(ctx, `UPDATE ingest.run SET flow_run_id = $2 WHERE id = $1`, run, flowRun)
	return err
}

// currentHashes returns the hash of every current file of a codebase, by path.
func currentHashes(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, codebase string) (map[string]string, error) {
	rows, err := q.Query(ctx, `
		SELECT f.path, v.hash FROM ingest.file f
		  JOIN ingest.file_version v ON v.file_id = f.id AND v.until_run_id IS NULL
		 WHERE f.codebase_id = $1`, codebase)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var path, hash string
	_, err = pgx.ForEachRow(rows, []any{&path, &hash}, func() error {
		out[path] = hash
		return nil
	})
	return out, err
}
