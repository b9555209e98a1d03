package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// BuildArgs is a node that "builds" a target (kind "build"), used by several
// examples.
type BuildArgs struct {
	Target string `json:"target"`
}

func (BuildArgs) Kind() string { return "build" }

// BuildOutput is what a build node outputs, for its children to read.
type BuildOutput struct {
	Artifact string   `json:"artifact"`
	Uses     []string `json:"uses,omitempty"`
}

// BuildWorker works "build" nodes: it reads the run's input (the commit) and
// its parents' artifacts, and outputs its own artifact.
type BuildWorker struct {
	river.WorkerDefaults[BuildArgs]
}

func (*BuildWorker) Work(ctx context.Context, job *river.Job[BuildArgs]) error {
	// The run's input and every parent's output, in one query.
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var input struct {
		Commit string `json:"commit"`
	}
	if err := json.Unmarshal(in.Input, &input); err != nil {
		return err
	}
	out := BuildOutput{Artifact: fmt.Sprintf("%s@%s.tar", job.Args.Target, input.Commit)}
	for parent, raw := range in.Parents {
		var built BuildOutput
		if err := json.Unmarshal(raw, &built); err != nil {
			return fmt.Errorf("output of %s: %w", parent, err)
		}
		out.Uses = append(out.Uses, built.Artifact)
	}
	slices.Sort(out.Uses)
	// Written with the node's completion; children see it when they start.
	return flow.SetOutput(ctx, out)
}

// buildWorkers is the workers of the examples that only build.
func buildWorkers() *river.Workers {
	workers := river.NewWorkers()
	river.AddWorker(workers, &BuildWorker{})
	return workers
}

// releaseWorkflow is a release of commit: lib and docs are built, then the
// release from both.
func releaseWorkflow(commit string) *flow.Workflow {
	w := flow.New("release " + commit).Input(map[string]string{"commit": commit})
	lib := w.Add("lib", BuildArgs{Target: "lib"})
	docs := w.Add("docs", BuildArgs{Target: "docs"})
	w.Add("release", BuildArgs{Target: "release"}, flow.After(lib, docs))
	return w
}
