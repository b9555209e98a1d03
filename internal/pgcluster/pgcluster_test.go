package pgcluster_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/pgcluster"
)

// A private cluster takes its settings, survives a crash restart with what
// was committed, and is gone afterwards.
func TestClusterRestartKeepsCommittedData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgcluster.Start(t, pgcluster.Options{Settings: []string{"max_connections = 37"}})

	conn, err := pgx.Connect(ctx, c.URL(""))
	require.NoError(t, err)
	var maxConns string
	require.NoError(t, conn.QueryRow(ctx, "SHOW max_connections").Scan(&maxConns))
	require.Equal(t, "37", maxConns)
	_, err = conn.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
	require.NoError(t, err)

	require.NoError(t, c.Restart("immediate"))
	require.Error(t, conn.Ping(ctx), "the old session was cut")

	conn2, err := pgx.Connect(ctx, c.URL(""))
	require.NoError(t, err)
	defer conn2.Close(ctx)
	var x int
	require.NoError(t, conn2.QueryRow(ctx, "SELECT x FROM t").Scan(&x))
	require.Equal(t, 42, x)
}
