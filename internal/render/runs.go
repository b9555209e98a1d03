package render

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/htdag/htdag/flow"
)

// RunsRowDoc is one run of `worker runs --json`: the run's own fields (as in
// StatusDoc) and its tree's totals.
type RunsRowDoc struct {
	RunDoc
	Tree flow.TreeTotals `json:"tree"`
}

// RunsJSON prints `worker runs --json`: an array of RunsRowDoc, with each
// run's tree totals from totals (flow.Client.TreeTotals).
func RunsJSON(w io.Writer, runs []*flow.Run, totals map[int64]flow.TreeTotals, now time.Time) error {
	out := make([]RunsRowDoc, 0, len(runs))
	for _, r := range runs {
		out = append(out, RunsRowDoc{RunDoc: NewRunDoc(r, now), Tree: totals[r.ID]})
	}
	return JSON(w, out)
}

// RunsText prints `worker runs`: a table of runs whose RUNS, NODES,
// UNFINISHED and FAILED count each run's whole tree (from totals), or "no
// runs".
func RunsText(w io.Writer, runs []*flow.Run, totals map[int64]flow.TreeTotals, now time.Time) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs")
		return err
	}
	rows := [][]string{{"ID", "NAME", "STATE", "RUNS", "NODES", "UNFINISHED", "FAILED", "CREATED", "DURATION"}}
	for _, r := range runs {
		dur := "-"
		if d, ok := runDuration(r, now); ok {
			dur = d.Round(time.Millisecond).String()
		}
		t := totals[r.ID]
		rows = append(rows, []string{strconv.FormatInt(r.ID, 10), cell(orDash(r.Name), 0), string(r.State),
			strconv.Itoa(t.Runs), strconv.Itoa(t.Nodes), strconv.Itoa(t.Unfinished), strconv.Itoa(t.Failed),
			r.CreatedAt.UTC().Format("2006-01-02 15:04:05"), dur})
	}
	return writeTable(w, rows, alignLeft)
}
