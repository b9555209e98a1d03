package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// CodebaseArgs are an ingestion run's root node: it walks the tree and
// expands into the run's sub-DAG.
type CodebaseArgs struct {
	Run      int64  `json:"run"`      // the ingest.run row
	Codebase string `json:"codebase"` // ingest.codebase id
	Root     string `json:"root"`     // absolute path of the tree
	// MaxFileSize is the stat step's size limit (DefaultMaxFileSize when 0).
	MaxFileSize int64 `json:"max_file_size,omitempty"`
	// PartSize is the most files a directory node expands into chains
	// (MaxDirPart when 0).
	PartSize int `json:"part_size,omitempty"`
}

// Kind implements river.JobArgs.
func (CodebaseArgs) Kind() string { return KindCodebase }

// Workflow returns the spec of an ingestion run: its one root node, which
// expands at run time. Start it in the transaction that called BeginRun.
func Workflow(args CodebaseArgs) *flow.Workflow {
	w := flow.New(truncate("ingest "+args.Codebase, 200)).Input(map[string]any{"run": args.Run, "codebase": args.Codebase, "root": args.Root})
	return w.Output(w.Add("codebase", args, nodeOptions(KindCodebase)...))
}

// CodebaseWorker works the root node: it walks the tree and expands into one
// directory node per directory and the index node after them all.
type CodebaseWorker struct {
	river.WorkerDefaults[CodebaseArgs]
	pool *pgxpool.Pool
}

// NextRetry implements river.Worker.
func (*CodebaseWorker) NextRetry(job *river.Job[CodebaseArgs]) time.Time {
	return nextRetry(job.Attempt)
}

// Work implements river.Worker.
func (w *CodebaseWorker) Work(ctx context.Context, job *river.Job[CodebaseArgs]) error {
	a := job.Args
	if a.MaxFileSize <= 0 {
		a.MaxFileSize = DefaultMaxFileSize
	}
	if a.PartSize <= 0 {
		a.PartSize = MaxDirPart
	}
	if !filepath.IsAbs(a.Root) {
		return river.JobCancel(fmt.Errorf("ingest: root %q is not an absolute path", a.Root))
	}
	plan, err := Walk(ctx, a.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return river.JobCancel(fmt.Errorf("ingest: walking %s: %w", a.Root, err)) // retrying will not create it
	}
	if err != nil {
		return fmt.Errorf("ingest: walking %s: %w", a.Root, err)
	}
	prev, err := currentHashes(ctx, w.pool, a.Codebase)
	if err != nil {
		return fmt.Errorf("ingest: reading current versions: %w", err)
	}
	sub, err := expansion(&a, plan, prev).Spec()
	if err != nil {
		return river.JobCancel(err)
	}
	if err := flow.Expand(ctx, sub); err != nil {
		return err
	}
	pruned, _ := json.Marshal(plan.Pruned)
	ev, _ := json.Marshal(Event{Run: a.Run, Event: EventPlanned, Files: plan.Files(), Dirs: len(plan.Dirs)})
	return flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			WITH upd AS (
				UPDATE ingest.run SET files_planned = $2, dirs_planned = $3, pruned = $4 WHERE id = $1
			)
			SELECT pg_notify($5, $6)`,
			a.Run, plan.Files(), len(plan.Dirs), string(pruned), ProgressChannel, string(ev))
		return err
	})
}

// expansion is the sub-DAG of a run: one directory node per directory
// holding files, then index. Its output is index's.
func expansion(a *CodebaseArgs, plan *Plan, prev map[string]string) *flow.Workflow {
	w := flow.New(truncate("ingest "+a.Codebase, 200))
	var dirs []*flow.Node
	for i, d := range plan.Dirs {
		args := DirArgs{Run: a.Run, Codebase: a.Codebase, Root: a.Root, Dir: d.Path, MaxFileSize: a.MaxFileSize, PartSize: a.PartSize}
		for _, f := range d.Files {
			args.Files = append(args.Files, DirFile{Path: f.Path, Ignored: f.Ignored, PrevHash: prev[f.Path]})
		}
		dirs = append(dirs, w.Add(fmt.Sprintf("d%d:%s", i+1, idPart(d.Path, 100)), args, nodeOptions(KindDir)...))
	}
	index := w.Add("index", IndexArgs{Run: a.Run}, nodeOptions(KindIndex, flow.After(dirs...))...)
	return w.Output(index)
}

// MaxDirPart is the most files one directory node expands into chains
// unless CodebaseArgs.PartSize says otherwise; a larger directory expands
// into parts of this size, then its summary.
const MaxDirPart = 500

// DirArgs are a directory's node: it expands into its files' chains and the
// directory's summary (or, for a large directory, into parts and then the
// summary).
type DirArgs struct {
	Run         int64     `json:"run"`
	Codebase    string    `json:"codebase"`
	Root        string    `json:"root"`
	Dir         string    `json:"dir"`
	MaxFileSize int64     `json:"max_file_size"`
	PartSize    int       `json:"part_size"`
	Files       []DirFile `json:"files"`
	// Part marks a slice of a large directory: chains only, no summary.
	Part bool `json:"part,omitempty"`
}

// DirFile is one file of a directory node.
type DirFile struct {
	Path     string `json:"path"`
	Ignored  string `json:"ignored,omitempty"`   // the .gitignore rule that ignores it
	PrevHash string `json:"prev_hash,omitempty"` // its current version's hash
}

// Kind implements river.JobArgs.
func (DirArgs) Kind() string { return KindDir }

// DirWorker works directory nodes: each inserts its own sub-DAG, so a large
// tree is inserted by many small transactions in parallel, and the first
// directories' chains start while later ones are being inserted.
type DirWorker struct {
	river.WorkerDefaults[DirArgs]
}

// NextRetry implements river.Worker.
func (*DirWorker) NextRetry(job *river.Job[DirArgs]) time.Time { return nextRetry(job.Attempt) }

// Work implements river.Worker.
func (*DirWorker) Work(ctx context.Context, job *river.Job[DirArgs]) error {
	sub, err := dirWorkflow(job.Args).Spec()
	if err != nil {
		return river.JobCancel(err)
	}
	return flow.Expand(ctx, sub)
}

// dirWorkflow is a directory's sub-DAG: a chain per file, then the
// directory's summary, whose output is the sub-DAG's. A directory of more
// than PartSize files gets part nodes instead of chains.
func dirWorkflow(a DirArgs) *flow.Workflow {
	w := flow.New(truncate(a.Dir, 200))
	var last []*flow.Node
	size := a.PartSize
	if size <= 0 {
		size = MaxDirPart
	}
	if !a.Part && len(a.Files) > size {
		for i := 0; i*size < len(a.Files); i++ {
			part := a
			part.Part = true
			part.Files = a.Files[i*size : min((i+1)*size, len(a.Files))]
			last = append(last, w.Add(fmt.Sprintf("part%d", i+1), part, nodeOptions(KindDir)...))
		}
	} else {
		for i, f := range a.Files {
			id := fmt.Sprintf("f%d:%s:", i+1, idPart(filepath.Base(f.Path), 80))
			ref := StepArgs{Run: a.Run, Path: f.Path}
			stat := w.Add(id+"stat", StatArgs{
				Run: a.Run, Codebase: a.Codebase, Root: a.Root, Path: f.Path, Dir: a.Dir,
				MaxSize: a.MaxFileSize, Ignored: f.Ignored, PrevHash: f.PrevHash,
			}, nodeOptions(KindStat)...)
			validate := w.Add(id+"validate", ValidateArgs(ref), nodeOptions(KindValidate, flow.After(stat))...)
			detect := w.Add(id+"detect", DetectArgs(ref), nodeOptions(KindDetect, flow.After(validate))...)
			parse := w.Add(id+"parse", ParseArgs(ref), nodeOptions(KindParse, flow.After(detect))...)
			chunk := w.Add(id+"chunk", ChunkArgs(ref), nodeOptions(KindChunk, flow.After(parse))...)
			last = append(last, w.Add(id+"store", StoreArgs(ref), nodeOptions(KindStore, flow.After(chunk))...))
		}
	}
	if a.Part {
		return w
	}
	summary := w.Add("summary", SummaryArgs{Run: a.Run, Dir: a.Dir}, nodeOptions(KindSummary, flow.After(last...))...)
	return w.Output(summary)
}

// Start begins an ingestion run in one transaction: the ingest.run row
// (ingest.begin_run, which refuses while another run of the codebase is in
// progress) and the flow run doing it. It returns both ids.
func Start(ctx context.Context, pool *pgxpool.Pool, client *flow.Client, args CodebaseArgs) (run, flowRun int64, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if run, err = BeginRun(ctx, tx, args.Codebase, args.Root); err != nil {
			return err
		}
		args.Run = run
		if flowRun, err = client.StartTx(ctx, tx, Workflow(args)); err != nil {
			return err
		}
		return SetFlowRun(ctx, tx, run, flowRun)
	})
	if err != nil {
		return 0, 0, err
	}
	return run, flowRun, nil
}

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9_.:-]+`)

// idPart makes a readable piece of a node id from a path.
func idPart(s string, max int) string {
	s = notIDChar.ReplaceAllString(s, "_")
	if len(s) > max {
		s = s[len(s)-max:]
	}
	return s
}
