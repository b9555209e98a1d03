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
// sub-workflow per directory and the index node after them all.
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

// expansion is the sub-DAG of a run: one sub-workflow node per directory
// (its files' chains and its summary), then index. Its output is index's.
func expansion(a *CodebaseArgs, plan *Plan, prev map[string]string) *flow.Workflow {
	w := flow.New(truncate("ingest "+a.Codebase, 200))
	var dirs []*flow.Node
	for i, d := range plan.Dirs {
		dirs = append(dirs, w.AddWorkflow(fmt.Sprintf("d%d:%s", i+1, idPart(d.Path, 100)), dirWorkflow(a, d, prev)))
	}
	index := w.Add("index", IndexArgs{Run: a.Run}, nodeOptions(KindIndex, flow.After(dirs...))...)
	return w.Output(index)
}

// dirWorkflow is a directory's sub-workflow: a chain per file, then the
// directory's summary. Its output is the summary's.
func dirWorkflow(a *CodebaseArgs, d DirPlan, prev map[string]string) *flow.Workflow {
	w := flow.New(truncate(d.Path, 200))
	var stores []*flow.Node
	for i, f := range d.Files {
		id := fmt.Sprintf("f%d:%s:", i+1, idPart(filepath.Base(f.Path), 80))
		ref := StepArgs{Run: a.Run, Path: f.Path}
		stat := w.Add(id+"stat", StatArgs{
			Run: a.Run, Codebase: a.Codebase, Root: a.Root, Path: f.Path, Dir: d.Path,
			MaxSize: a.MaxFileSize, Ignored: f.Ignored, PrevHash: prev[f.Path],
		}, nodeOptions(KindStat)...)
		validate := w.Add(id+"validate", ValidateArgs(ref), nodeOptions(KindValidate, flow.After(stat))...)
		detect := w.Add(id+"detect", DetectArgs(ref), nodeOptions(KindDetect, flow.After(validate))...)
		parse := w.Add(id+"parse", ParseArgs(ref), nodeOptions(KindParse, flow.After(detect))...)
		chunk := w.Add(id+"chunk", ChunkArgs(ref), nodeOptions(KindChunk, flow.After(parse))...)
		stores = append(stores, w.Add(id+"store", StoreArgs(ref), nodeOptions(KindStore, flow.After(chunk))...))
	}
	summary := w.Add("summary", SummaryArgs{Run: a.Run, Dir: d.Path}, nodeOptions(KindSummary, flow.After(stores...))...)
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
