package flow_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// River's completer, through flow.Driver, does not complete again the nodes
// htdag completed: every one is handed over without a statement (the set
// drains), and River still emits a completed event for each, so its
// subscribers see what they always saw.
func TestRiverCompleterSkipsNodesHtdagCompleted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := flowtest.StartRiver(t, b.pool, riverConfig(b.pool, newTestWorkers()))
	events, cancel := client.Subscribe(river.EventKindJobCompleted)
	defer cancel()

	nodes := []string{`{"id": "root", "kind": "noop"}`}
	for i := range 40 {
		nodes = append(nodes, fmt.Sprintf(`{"id": "n%d", "kind": "noop", "deps": ["root"]}`, i))
	}
	runID := b.startSQL(t, `{"name": "fan", "nodes": [`+strings.Join(nodes, ",")+`]}`)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)

	var jobIDs []int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT array_agg(job_id) FROM flow.node WHERE run_id = $1`, runID).Scan(&jobIDs))
	want := map[int64]bool{}
	for _, id := range jobIDs {
		want[id] = true
	}
	deadline := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-events:
			if want[ev.Job.ID] {
				require.Equal(t, rivertype.JobStateCompleted, ev.Job.State)
				require.NotNil(t, ev.Job.FinalizedAt)
				delete(want, ev.Job.ID)
			}
		case <-deadline:
			t.Fatalf("River emitted no completed event for %d of the run's jobs", len(want))
		}
	}
	require.Zero(t, flow.CompletionsForRiver(b.pool), "River's completer was not told about every completion htdag made")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}
