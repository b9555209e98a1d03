package flow_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// A failure to read the run ends Wait with that error rather than leaving it
// blocked until its context ends.
func TestWaitReturnsReadErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, "DROP SCHEMA flow CASCADE")
	require.NoError(t, err)

	_, err = b.flow.Wait(b.ctx, 1)
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "Wait hung until its deadline")
	require.ErrorContains(t, err, "flow.run")
}
