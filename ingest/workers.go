// Package ingest is the code-ingestion workflow behind `worker ingest`: it
// stores a directory tree's files, their symbols and chunks in the ingest
// schema, keeps every version of every file by content hash, and records
// what changed from one run to the next.
//
// A run is one htdag run, hierarchical:
//
//	ingest.codebase (walks the tree, expands into:)
//	├── one ingest.dir node per directory, which expands into, for each file,
//	│   the chain stat → validate → detect → parse → chunk → store, and a
//	│   summary node after all of them (a directory of more than MaxDirPart
//	│   files expands into parts of that size, then the summary);
//	└── index, after every directory: removals, counters, NOTIFY ingest_indexed.
//
// A file that a step rejects (not a regular file, too large, not on the
// allow-list, binary, empty, ignored) or whose content hash is unchanged
// carries a skip reason down its chain: every later step passes it on at
// once, and store records it. Only changed files are read past validate.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// Kinds of the ingestion's nodes.
const (
	KindCodebase = "ingest.codebase"
	KindDir      = "ingest.dir"
	KindStat     = "ingest.stat"
	KindValidate = "ingest.validate"
	KindDetect   = "ingest.detect"
	KindParse    = "ingest.parse"
	KindChunk    = "ingest.chunk"
	KindStore    = "ingest.store"
	KindSummary  = "ingest.summary"
	KindIndex    = "ingest.index"
)

// stepOptions are each step's timeout per attempt and attempt budget: stat
// and detect touch one inode or nothing, parse may meet a large file, and the
// database steps retry longer through contention.
var stepOptions = map[string]struct {
	timeout  time.Duration
	attempts int
}{
	KindCodebase: {5 * time.Minute, 3},
	KindDir:      {time.Minute, 3},
	KindStat:     {10 * time.Second, 3},
	KindValidate: {30 * time.Second, 3},
	KindDetect:   {5 * time.Second, 3},
	KindParse:    {2 * time.Minute, 3},
	KindChunk:    {30 * time.Second, 3},
	KindStore:    {time.Minute, 5},
	KindSummary:  {time.Minute, 5},
	KindIndex:    {5 * time.Minute, 5},
}

// nodeOptions returns the flow options of a node of the given kind.
func nodeOptions(kind string, more ...flow.NodeOption) []flow.NodeOption {
	o := stepOptions[kind]
	return append([]flow.NodeOption{flow.WithTimeout(o.timeout), flow.WithMaxAttempts(o.attempts)}, more...)
}

// nextRetry retries a failed step soon: 1 s, 2 s, 3 s... (a step fails for
// a transient reason, or for good; River's long backoff helps neither).
func nextRetry(attempt int) time.Time {
	return time.Now().Add(time.Duration(attempt) * time.Second)
}

// StatArgs start a file's chain: everything the chain needs to know.
type StatArgs fileState

// StepArgs name the file a later step of a chain works on (its state comes
// from the step before); they make the node readable in flow.nodes.
type StepArgs struct {
	Run  int64  `json:"run"`
	Path string `json:"path"`
}

// The args of the chain's later steps.
type (
	ValidateArgs StepArgs
	DetectArgs   StepArgs
	ParseArgs    StepArgs
	ChunkArgs    StepArgs
	StoreArgs    StepArgs
)

// Kind implements river.JobArgs.
func (StatArgs) Kind() string     { return KindStat }
func (ValidateArgs) Kind() string { return KindValidate }
func (DetectArgs) Kind() string   { return KindDetect }
func (ParseArgs) Kind() string    { return KindParse }
func (ChunkArgs) Kind() string    { return KindChunk }
func (StoreArgs) Kind() string    { return KindStore }

// SummaryArgs are a directory's summary node.
type SummaryArgs struct {
	Run int64  `json:"run"`
	Dir string `json:"dir"`
}

// Kind implements river.JobArgs.
func (SummaryArgs) Kind() string { return KindSummary }

// IndexArgs are a run's index node.
type IndexArgs struct {
	Run int64 `json:"run"`
}

// Kind implements river.JobArgs.
func (IndexArgs) Kind() string { return KindIndex }

// Register adds the ingestion's workers; they use pool for what is not in
// a node's completion transaction (reading current hashes, reporting
// failures, summaries).
func Register(workers *river.Workers, pool *pgxpool.Pool) {
	river.AddWorker(workers, &CodebaseWorker{pool: pool})
	river.AddWorker(workers, &DirWorker{})
	river.AddWorker(workers, &StatWorker{r: reporter{pool, "stat"}})
	river.AddWorker(workers, newStepWorker[ValidateArgs](pool, "validate", doValidate))
	river.AddWorker(workers, newStepWorker[DetectArgs](pool, "detect", doDetect))
	river.AddWorker(workers, newStepWorker[ParseArgs](pool, "parse", doParse))
	river.AddWorker(workers, newStepWorker[ChunkArgs](pool, "chunk", doChunk))
	river.AddWorker(workers, &StoreWorker{r: reporter{pool, "store"}})
	river.AddWorker(workers, &SummaryWorker{pool: pool})
	river.AddWorker(workers, &IndexWorker{pool: pool})
}

// Kinds lists the ingestion's node kinds.
func Kinds() []string {
	return []string{KindCodebase, KindDir, KindStat, KindValidate, KindDetect, KindParse, KindChunk, KindStore, KindSummary, KindIndex}
}

// reporter announces a step's failed attempts on ProgressChannel, so that
// `worker ingest --wait` shows failures as they happen.
type reporter struct {
	pool *pgxpool.Pool
	step string
}

// fail reports err and returns what Work should: a file that changed under
// the run fails its chain at once (retrying would read the same new content
// with the old hash).
func (r reporter) fail(ctx context.Context, run int64, path string, attempt, maxAttempts int, err error) error {
	var changed *errChanged
	final := attempt >= maxAttempts || errors.As(err, &changed)
	ev, _ := json.Marshal(Event{Run: run, Event: EventError, Path: path, Step: r.step, Attempt: attempt,
		Final: final, Error: err.Error()})
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = r.pool.Exec(nctx, "SELECT pg_notify($1, $2)", ProgressChannel, string(ev))
	if changed != nil {
		return river.JobCancel(err)
	}
	return err
}

// parentState reads the file state output by the node's one parent.
func parentState(ctx context.Context) (*fileState, error) {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return nil, err
	}
	if len(in.Parents) != 1 {
		return nil, fmt.Errorf("ingest: a chain step needs one parent, has %d", len(in.Parents))
	}
	var st fileState
	for _, out := range in.Parents {
		if err := json.Unmarshal(out, &st); err != nil {
			return nil, fmt.Errorf("ingest: decoding the previous step's output: %w", err)
		}
	}
	return &st, nil
}

// StatWorker works the first step of a file's chain.
type StatWorker struct {
	river.WorkerDefaults[StatArgs]
	r reporter
}

// NextRetry implements river.Worker.
func (*StatWorker) NextRetry(job *river.Job[StatArgs]) time.Time { return nextRetry(job.Attempt) }

// Work checks the file exists, is regular and is not too large.
func (w *StatWorker) Work(ctx context.Context, job *river.Job[StatArgs]) error {
	st := fileState(job.Args)
	if err := doStat(&st); err != nil {
		return w.r.fail(ctx, st.Run, st.Path, job.Attempt, job.MaxAttempts, err)
	}
	return flow.SetOutput(ctx, &st)
}

// stepWorker works a middle step of the chain: it takes the previous step's
// state, runs fn unless the file is skipped, and outputs the state.
type stepWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	r  reporter
	fn func(*fileState) error
}

func newStepWorker[T river.JobArgs](pool *pgxpool.Pool, step string, fn func(*fileState) error) *stepWorker[T] {
	return &stepWorker[T]{r: reporter{pool, step}, fn: fn}
}

// NextRetry implements river.Worker.
func (*stepWorker[T]) NextRetry(job *river.Job[T]) time.Time { return nextRetry(job.Attempt) }

// Work implements river.Worker.
func (w *stepWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	st, err := parentState(ctx)
	if err != nil {
		return err
	}
	if st.Skip == "" {
		if err := w.fn(st); err != nil {
			return w.r.fail(ctx, st.Run, st.Path, job.Attempt, job.MaxAttempts, err)
		}
	}
	return flow.SetOutput(ctx, st)
}

// storeOutput is the store node's output: the file and what became of it in
// the chain (the full state stays in the chunk node's output).
type storeOutput struct {
	Path string `json:"path"`
	Hash string `json:"hash,omitempty"`
	Skip string `json:"skip,omitempty"`
}

// StoreWorker works the last step of a file's chain: the file, its symbols
// and chunks are written in the node's completion transaction.
type StoreWorker struct {
	river.WorkerDefaults[StoreArgs]
	r reporter
}

// NextRetry implements river.Worker.
func (*StoreWorker) NextRetry(job *river.Job[StoreArgs]) time.Time { return nextRetry(job.Attempt) }

// Work implements river.Worker.
func (w *StoreWorker) Work(ctx context.Context, job *river.Job[StoreArgs]) error {
	st, err := parentState(ctx)
	if err != nil {
		return err
	}
	content, err := prepareStore(st)
	if err != nil {
		return w.r.fail(ctx, st.Run, st.Path, job.Attempt, job.MaxAttempts, err)
	}
	if err := flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := storeState(ctx, tx, st, content)
		return err
	}); err != nil {
		return err
	}
	return flow.SetOutput(ctx, storeOutput{Path: st.Path, Hash: st.Hash, Skip: st.Skip})
}

// SummaryWorker works a directory's summary node, after every store of the
// directory has committed. ingest.summarize_dir upserts, so a retried
// summary writes the same row.
type SummaryWorker struct {
	river.WorkerDefaults[SummaryArgs]
	pool *pgxpool.Pool
}

// Work implements river.Worker.
func (w *SummaryWorker) Work(ctx context.Context, job *river.Job[SummaryArgs]) error {
	var out json.RawMessage
	if err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) (err error) {
		out, err = summarizeDir(ctx, tx, job.Args.Run, job.Args.Dir)
		return err
	}); err != nil {
		return fmt.Errorf("ingest: summarizing %s: %w", job.Args.Dir, err)
	}
	return flow.SetOutput(ctx, out)
}

// IndexWorker works a run's index node, after every directory: it records
// removals, sets the run's counters and sends NOTIFY ingest_indexed.
// ingest.finish_run does nothing more for a run it already completed, so a
// retried index returns the same counters.
type IndexWorker struct {
	river.WorkerDefaults[IndexArgs]
	pool *pgxpool.Pool
}

// Work implements river.Worker.
func (w *IndexWorker) Work(ctx context.Context, job *river.Job[IndexArgs]) error {
	var out *Indexed
	if err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) (err error) {
		out, err = finishRun(ctx, tx, job.Args.Run)
		return err
	}); err != nil {
		return fmt.Errorf("ingest: indexing run %d: %w", job.Args.Run, err)
	}
	return flow.SetOutput(ctx, out)
}
