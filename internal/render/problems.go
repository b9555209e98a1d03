package render

import (
	"fmt"
	"io"
	"strconv"

	"github.com/htdag/htdag/flow"
)

// ProblemsText prints `worker doctor`'s findings (flow.Client.Check): a table
// of run, node and problem, or "no problems found".
func ProblemsText(w io.Writer, problems []flow.Problem) error {
	if len(problems) == 0 {
		_, err := fmt.Fprintln(w, "no problems found")
		return err
	}
	rows := [][]string{{"RUN", "NODE", "CATEGORY", "PROBLEM"}}
	for _, p := range problems {
		run := "-" // a problem of no one run (a concurrency key's count)
		if p.RunID != 0 {
			run = strconv.FormatInt(p.RunID, 10)
		}
		rows = append(rows, []string{run, cell(orDash(p.NodeID), 0), cell(orDash(string(p.Category)), 0), cell(p.Problem, 0)})
	}
	return writeTable(w, rows, alignLeft)
}
