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
		rows = append(rows, []string{strconv.FormatInt(p.RunID, 10), cell(orDash(p.NodeID), 0), cell(orDash(string(p.Category)), 0), cell(p.Problem, 0)})
	}
	return writeTable(w, rows, alignLeft)
}
