package soak_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/soak"
)

// The short soak of `make test`: half a minute of kill -9s and one
// PostgreSQL restart under load. It asserts the guarantees; the recovery
// figures are printed, and asserted by the full soak (`make soak`), which
// measures them over three minutes.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs a fleet for half a minute; -short skips it")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o := soak.Options{
		Duration:    30 * time.Second,
		Workers:     3,
		KillEvery:   2 * time.Second,
		Restarts:    []string{"immediate"},
		WaveEvery:   2 * time.Second,
		Scale:       0.3,
		CancelTrees: 1,
	}
	if testing.Verbose() {
		o.Log = os.Stderr
	}
	r, err := soak.Run(ctx, o)
	require.NoError(t, err)
	t.Log("\n" + r.String())
	require.Empty(t, r.Violations)
	require.Positive(t, r.Kills)
	require.NotEmpty(t, r.Recoveries, "some node was lost with a killed worker and ran again")
	require.Positive(t, r.RunsCompleted)
	require.Equal(t, 1, r.RunsCancelled)
	require.Positive(t, r.RunsPastDeadline, "the deadline runs end cancelled by their deadline")
}
