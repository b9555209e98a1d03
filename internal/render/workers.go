package render

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/htdag/htdag/flow"
)

// WorkersText prints `worker workers`: a table of the fleet, or "no workers".
func WorkersText(w io.Writer, workers []*flow.WorkerInfo, now time.Time) error {
	if len(workers) == 0 {
		_, err := fmt.Fprintln(w, "no workers")
		return err
	}
	rows := [][]string{{"ID", "STATE", "HOST", "PID", "RUNNING", "FREE", "QUEUES", "KINDS", "UP", "LAST SEEN"}}
	for _, wk := range workers {
		kinds := "any"
		if wk.Kinds != nil {
			kinds = strconv.Itoa(len(wk.Kinds))
		}
		end := now
		if wk.EndedAt != nil {
			end = *wk.EndedAt
		}
		rows = append(rows, []string{strconv.FormatInt(wk.ID, 10), string(wk.State), cell(wk.Host, 0), strconv.Itoa(wk.PID),
			strconv.Itoa(wk.Running), freeSlots(wk), cell(strings.Join(wk.Queues, ","), 0), kinds,
			end.Sub(wk.StartedAt).Round(time.Second).String(), ago(now, wk.LastSeenAt)})
	}
	return writeTable(w, rows, alignLeft)
}

// freeSlots is a worker's free slots as its last heartbeat said ("-": it
// does not say, and releases of its queues wake everyone): the number for
// a worker of one queue, queue=N pairs for more.
func freeSlots(wk *flow.WorkerInfo) string {
	if wk.FreeSlots == nil {
		return "-"
	}
	if len(wk.Queues) == 1 {
		return strconv.Itoa(wk.FreeSlots[wk.Queues[0]])
	}
	parts := make([]string, 0, len(wk.FreeSlots))
	for _, q := range slices.Sorted(maps.Keys(wk.FreeSlots)) {
		parts = append(parts, q+"="+strconv.Itoa(wk.FreeSlots[q]))
	}
	return cell(strings.Join(parts, ","), 0)
}

// ago says how long before now t was, to the tenth of a second.
func ago(now, t time.Time) string {
	return now.Sub(t).Round(100*time.Millisecond).String() + " ago"
}
