package fleettest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/fleettest"
	"github.com/htdag/htdag/internal/pgbouncer"
	"github.com/htdag/htdag/internal/pgcluster"
)

// testLog writes the harness's progress to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p))
	return len(p), nil
}

// make fleet's harness on a small fleet: one direct worker, then 1 and 3
// pooled ones, run every shape to completion, no worker logs an error, and
// the figures are there (a chain's every step, one wake-up per chain node).
func TestSmallFleet(t *testing.T) {
	t.Parallel()
	if _, err := pgcluster.BinDir(); err != nil {
		t.Skipf("fleettest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const chain = 50
	r, err := fleettest.Run(ctx, fleettest.Options{Processes: 3, Steps: []int{1}, FanOut: 200, Diamonds: 20, Chain: chain,
		NoFsync: true, ShapeTimeout: time.Minute, Log: testLog{t}})
	if errors.Is(err, pgbouncer.ErrNotInstalled) {
		t.Skipf("fleettest: %v", err)
	}
	require.NoError(t, err)
	t.Log("\n" + r.String())
	require.Empty(t, r.Violations)
	require.Len(t, r.Baseline, 3, "fan-out, diamonds, chain")
	require.Len(t, r.Fleet, 3+3+1, "the three shapes at 1 and 3 processes, then all at once")
	for _, s := range append(r.Baseline, r.Fleet...) {
		require.Equal(t, s.Runs, s.RunsCompleted, s.Shape)
		require.Positive(t, s.NodesPerSec, s.Shape)
		require.Positive(t, s.WALBytes, s.Shape)
		require.Positive(t, s.WriteXacts, s.Shape)
		require.Positive(t, s.DiskBytes, s.Shape)
		if s.Shape == "chain" {
			require.Equal(t, chain-1, s.Steps)
			if s.Direct || s.Processes == 3 {
				// The acceptance's ratio compares each side's median
				// run of three.
				require.Len(t, s.StepP50Runs, 3, "the direct worker's and the full fleet's chain run three times")
				runs := slices.Sorted(slices.Values(s.StepP50Runs))
				require.Equal(t, runs[1], s.StepP50, "the median run is kept")
			} else {
				require.Empty(t, s.StepP50Runs)
			}
			require.GreaterOrEqual(t, s.InsertNotifications+s.OwnWakeups, int64(chain-1), "each release wakes workers")
		}
	}
	require.Positive(t, r.Notify.PlainCommitsPerSec)
	require.Positive(t, r.Notify.NotifyCommitsPerSec)
	require.Positive(t, r.PeakBackends)
	require.LessOrEqual(t, r.PeakBackends, int64(100))
}
