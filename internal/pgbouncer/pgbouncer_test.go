package pgbouncer_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/pgbouncer"
)

// Through the pooler in transaction mode, clients share server connections:
// pgx's default named prepared statements collide there (the reason pools
// through it use PooledQueryExecMode), and PooledQueryExecMode does not.
func TestTransactionModeSharesServerConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgbouncer.NewDatabase(t, pgbouncer.DatabaseOptions{Bouncer: pgbouncer.Options{PoolSize: 1}})

	connect := func(mode pgx.QueryExecMode) *pgx.Conn {
		cfg, err := pgx.ParseConfig(db.PooledURL())
		require.NoError(t, err)
		cfg.DefaultQueryExecMode = mode
		conn, err := pgx.ConnectConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close(ctx) })
		return conn
	}
	var pidA, pidB int
	a, b := connect(pgx.QueryExecModeCacheStatement), connect(pgx.QueryExecModeCacheStatement)
	require.NoError(t, a.QueryRow(ctx, "SELECT pg_backend_pid() + $1::int", 0).Scan(&pidA))
	err := b.QueryRow(ctx, "SELECT pg_backend_pid() + $1::int", 0).Scan(&pidB)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "42P05", pgErr.Code, "b's statement already exists on the server connection a used")

	c, d := connect(pgbouncer.PooledQueryExecMode), connect(pgbouncer.PooledQueryExecMode)
	require.NoError(t, c.QueryRow(ctx, "SELECT pg_backend_pid() + $1::int", 0).Scan(&pidA))
	require.NoError(t, d.QueryRow(ctx, "SELECT pg_backend_pid() + $1::int", 0).Scan(&pidB))
	require.Equal(t, pidA, pidB, "one server connection for both clients")
}
