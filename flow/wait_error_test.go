package flow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/testdb"
)

// A failure to read the run ends Wait with that error rather than leaving it
// blocked until its context ends.
func TestWaitReturnsReadErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := pool.Exec(ctx, "DROP SCHEMA flow CASCADE")
	require.NoError(t, err)

	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = flow.NewClient(pool, nil).Wait(waitCtx, 1)
	require.Error(t, err)
	require.False(t, errors.Is(err, context.DeadlineExceeded), "Wait hung until its deadline: %v", err)
	require.ErrorContains(t, err, "flow.run")
}
