package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// requireEngineInvariants checks that the engine kept its invariants over an
// ingestion's whole tree of runs (root run and every sub-run its expansions
// made): flow.check finds nothing, each node's waiting count is the number
// of its parents not completed, each run's unfinished and failed counters
// match its nodes' jobs, and a finished run has nothing unfinished.
// (A local copy of the essentials of flow's package-private invariant
// helpers, until an importable test harness exists.)
func requireEngineInvariants(t *testing.T, b *testBundle, rootRun int64) {
	t.Helper()
	runs := b.strings(t, `SELECT id::text FROM flow.run WHERE id = $1 OR root_run_id = $1`, rootRun)
	require.NotEmpty(t, runs)
	problems, err := flow.NewClient(b.pool, nil).Check(b.ctx, rootRun)
	require.NoError(t, err)
	require.Empty(t, problems, "flow.check(%d)", rootRun)

	require.Empty(t, b.strings(t, `
		SELECT format('node %s of run %s: waiting %s, parents not completed %s', n.node_id, n.run_id, n.waiting, w.n)
		  FROM flow.node n JOIN flow.run r ON r.id = n.run_id,
		       LATERAL (SELECT count(*) AS n FROM unnest(n.parents) p(id) JOIN river_job j ON j.id = p.id
		                 WHERE j.state <> 'completed') w
		 WHERE (r.id = $1 OR r.root_run_id = $1) AND n.waiting <> w.n`, rootRun))
	require.Empty(t, b.strings(t, `
		SELECT format('run %s (%s): unfinished %s, failed %s; its jobs say %s and %s', r.id, r.state, r.unfinished, r.failed, c.unfinished, c.failed)
		  FROM flow.run r,
		       LATERAL (SELECT count(*) FILTER (WHERE j.state NOT IN ('completed', 'cancelled', 'discarded')) AS unfinished,
		                       count(*) FILTER (WHERE j.state IN ('cancelled', 'discarded')) AS failed
		                  FROM flow.node n JOIN river_job j ON j.id = n.job_id WHERE n.run_id = r.id) c
		 WHERE (r.id = $1 OR r.root_run_id = $1)
		   AND (r.unfinished <> c.unfinished OR r.failed <> c.failed
		        OR (r.state IN ('completed', 'failed', 'cancelled')) <> (r.unfinished = 0))`, rootRun))
}
