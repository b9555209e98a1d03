package render

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/htdag/htdag/flow"
)

// The trees below are built as flow.Client.Tree returns them for
// cmd/worker's three-level spec, which its end-to-end test plays in a
// database:
//
//	run 1 "three levels" (top): sub (a sub-workflow: run 2), after (deps sub), independent
//	run 2 (sub's child run):    gen, m (maps over gen's output: run 3), total (deps m)
//	run 3 (m's map run):        one noop per element of gen's output
//
// gen output [0, ..., elements-1]; element failAt was discarded with an
// error, those in running are running, the others completed. With none
// running, m and sub failed and total and after were cancelled, while
// independent is still available.

const (
	topRun, subRun, mapRun = 1, 2, 3
	cancelledError         = "htdag: cancelled because an upstream node failed"
)

var created = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// threeLevels returns the top run and its tree.
func threeLevels(elements, failAt int, running ...int) (*flow.Run, []*flow.TreeNode) {
	var rows []*flow.TreeNode
	job := int64(0)
	add := func(runID int64, depth int, path, kind string, state flow.NodeState) *flow.TreeNode {
		job++
		parts := strings.Split(path, "/")
		n := &flow.TreeNode{RunID: runID, Depth: depth, Path: path, NodeID: parts[len(parts)-1], JobID: job, Kind: kind, State: state}
		rows = append(rows, n)
		return n
	}
	ptr := func(id int64) *int64 { return &id }

	failed := len(running) == 0
	pick := func(ifFailed, ifRunning flow.NodeState) flow.NodeState {
		if failed {
			return ifFailed
		}
		return ifRunning
	}
	sub := add(topRun, 0, "sub", "flow.workflow", pick("discarded", "pending"))
	sub.ChildRunID = ptr(subRun)
	gen := add(subRun, 1, "sub/gen", "noop", "completed")
	gen.Attempt = 1
	items := make([]int, elements)
	for i := range items {
		items[i] = i
	}
	gen.Output, _ = json.Marshal(items)
	m := add(subRun, 1, "sub/m", "flow.map", pick("discarded", "pending"))
	m.ChildRunID = ptr(mapRun)
	for i := range elements {
		state := flow.NodeStateCompleted
		switch {
		case i == failAt:
			state = "discarded"
		case slices.Contains(running, i):
			state = "running"
		}
		e := add(mapRun, 2, fmt.Sprintf("sub/m/%d", i), "noop", state)
		e.Attempt = 1
		if i == failAt {
			e.LastError = fmt.Sprintf("square: planned failure at %d", failAt)
		}
	}
	total := add(subRun, 1, "sub/total", "noop", pick("cancelled", "pending"))
	after := add(topRun, 0, "after", "noop", pick("cancelled", "pending"))
	add(topRun, 0, "independent", "noop", "available")
	if failed {
		total.LastError, after.LastError = cancelledError, cancelledError
	}

	runState := map[int64]flow.RunState{topRun: flow.RunStateRunning, subRun: flow.RunStateRunning, mapRun: flow.RunStateRunning}
	if failed {
		runState[subRun], runState[mapRun] = flow.RunStateFailed, flow.RunStateFailed
	}
	for _, n := range rows {
		n.RunState = runState[n.RunID]
	}
	started := created.Add(time.Second)
	run := &flow.Run{ID: topRun, Name: "three levels", State: flow.RunStateRunning, Input: json.RawMessage(`{"path": "/src"}`),
		NodeCount: 3, Unfinished: 3, CreatedAt: created, StartedAt: &started, TopRunID: topRun}
	if failed {
		run.Unfinished, run.Failed = 1, 2
	}
	return run, rows
}

// mapRunTree is the status of run 3 alone: its run and its own rows, their
// paths starting at it.
func mapRunTree(top *flow.Run, rows []*flow.TreeNode) (*flow.Run, []*flow.TreeNode) {
	var own []*flow.TreeNode
	var mJob int64
	unfinished, failed := 0, 0
	for _, n := range rows {
		if n.Path == "sub/m" {
			mJob = n.JobID
		}
		if n.RunID != mapRun {
			continue
		}
		c := *n
		c.Path = strings.TrimPrefix(n.Path, "sub/m/")
		own = append(own, &c)
		switch n.State {
		case "discarded", "cancelled":
			failed++
		case "completed":
		default:
			unfinished++
		}
	}
	parentNode := "m"
	run := &flow.Run{ID: mapRun, State: own[0].RunState, NodeCount: len(own), Unfinished: unfinished, Failed: failed,
		CreatedAt: top.CreatedAt, ParentRunID: ptrTo(int64(subRun)), ParentJobID: &mJob, ParentNodeID: &parentNode,
		TopRunID: topRun, Depth: 2}
	return run, own
}

func ptrTo[T any](v T) *T { return &v }
