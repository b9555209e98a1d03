package flow_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// loginAs creates a login role that is a member of role (roles are
// cluster-wide, so the name is random and the role dropped at the end) and
// returns a connection to the test's database as that role.
func loginAs(t *testing.T, b *testBundle, role string) *pgx.Conn {
	t.Helper()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "htdag_test_" + role + "_" + hex.EncodeToString(suffix[:])
	_, err := b.pool.Exec(b.ctx, "CREATE ROLE "+name+" LOGIN IN ROLE "+role)
	require.NoError(t, err)
	cfg := b.pool.Config().ConnConfig.Copy()
	cfg.User = name
	conn, err := pgx.ConnectConfig(b.ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close(context.Background())
		_, err := b.pool.Exec(context.Background(), "DROP ROLE "+name)
		require.NoError(t, err)
	})
	return conn
}

func requirePermissionDenied(t *testing.T, err error, what string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, what)
	require.Equal(t, "42501", pgErr.Code, "%s: %v", what, err)
}

// flow_starter may start, cancel and retry runs, and nothing else.
func TestRoleFlowStarter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := loginAs(t, b, "flow_starter")

	var runID int64
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT flow.start('{"nodes": [{"id": "a", "kind": "noop"}]}')`).Scan(&runID))
	var cancelled bool
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT flow.cancel($1)`, runID).Scan(&cancelled))
	require.True(t, cancelled)
	var reset int
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT flow.retry($1)`, runID).Scan(&reset))
	require.Equal(t, 1, reset)

	_, err := conn.Exec(b.ctx, `UPDATE river_job SET state = 'completed', finalized_at = now()`)
	requirePermissionDenied(t, err, "update river_job")
	_, err = conn.Exec(b.ctx, `SELECT * FROM flow.run`)
	requirePermissionDenied(t, err, "read flow.run")
	_, err = conn.Exec(b.ctx, `SELECT * FROM flow.runs`)
	requirePermissionDenied(t, err, "read flow.runs")
	_, err = conn.Exec(b.ctx, `UPDATE flow.node SET waiting = 0`)
	requirePermissionDenied(t, err, "update flow.node")
}

// flow_reader may read the flow views, and nothing else.
func TestRoleFlowReader(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	conn := loginAs(t, b, "flow_reader")

	var state string
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT state FROM flow.runs WHERE id = $1`, runID).Scan(&state))
	require.Equal(t, "pending", state)
	var nodes, blocked int
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*) FROM flow.nodes WHERE run_id = $1`, runID).Scan(&nodes))
	require.Equal(t, 2, nodes)
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*) FROM flow.blocked WHERE run_id = $1`, runID).Scan(&blocked))
	require.Equal(t, 1, blocked)
	var tree int
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*) FROM flow.tree($1)`, runID).Scan(&tree))
	require.Equal(t, 2, tree)

	_, err := conn.Exec(b.ctx, `SELECT flow.start('{"nodes": [{"id": "a", "kind": "noop"}]}')`)
	requirePermissionDenied(t, err, "flow.start")
	_, err = conn.Exec(b.ctx, `SELECT flow.cancel($1)`, runID)
	requirePermissionDenied(t, err, "flow.cancel")
	_, err = conn.Exec(b.ctx, `SELECT * FROM river_job`)
	requirePermissionDenied(t, err, "read river_job")
	_, err = conn.Exec(b.ctx, `SELECT * FROM flow.node`)
	requirePermissionDenied(t, err, "read flow.node")
}
