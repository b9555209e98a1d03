package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/pgbouncer"
)

// With its job traffic through PgBouncer in transaction mode and
// --direct-database-url for the rest, the binary works as it does directly:
// migrate (whose lock needs a session), run (its producers poll once a
// minute, so a 30-step chain finishes in seconds only if NOTIFY wakes them),
// wait (its LISTEN). The worker holds one direct connection. Given only the
// pooled URL, `worker run` refuses to start and says why.
func TestRunThroughPgBouncer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := pgbouncer.NewDatabase(t, pgbouncer.DatabaseOptions{Bouncer: pgbouncer.Options{PoolSize: 4}})
	urls := func(args ...string) []string {
		return append([]string{"--database-url", d.PooledURL(), "--direct-database-url", d.DirectURL(), "--max-conns", "3"}, args...)
	}
	direct, err := pgx.Connect(ctx, d.DirectURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = direct.Close(ctx) })

	t.Run("RefusesAPooledOnlyURL", func(t *testing.T) {
		res := cli(t, "", "--database-url", d.PooledURL(), "--max-conns", "2", "run")
		require.Equal(t, 1, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
		require.Contains(t, res.stderr, "does not reach PostgreSQL directly")
		require.Contains(t, res.stderr, "transaction-mode pooler")
		require.Contains(t, res.stderr, "--direct-database-url")
		var workers int
		require.NoError(t, direct.QueryRow(ctx, "SELECT count(*) FROM flow.worker").Scan(&workers))
		require.Zero(t, workers, "it never registered")
	})

	t.Run("Works", func(t *testing.T) {
		res := cli(t, "", urls("migrate")...)
		require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
		require.Equal(t, "database is up to date\n", res.stdout)

		startWorkerCmd(t, exec.Command(workerBinary(t), urls("run", "--max-workers", "10", "--fetch-poll-interval", "1m")...))
		var sessions int
		require.NoError(t, direct.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name LIKE 'htdag worker % session'`).Scan(&sessions))
		require.Equal(t, 1, sessions, "one direct connection: LISTEN and the liveness lock")

		nodes := make([]string, 30)
		for i := range nodes {
			deps := ""
			if i > 0 {
				deps = fmt.Sprintf(`, "deps": ["n%d"]`, i-1)
			}
			nodes[i] = fmt.Sprintf(`{"id": "n%d", "kind": "noop"%s}`, i, deps)
		}
		res = cli(t, `{"nodes": [`+strings.Join(nodes, ", ")+`]}`, urls("start", "-")...)
		require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
		runID, err := strconv.ParseInt(strings.TrimSpace(res.stdout), 10, 64)
		require.NoError(t, err)
		res = cli(t, "", urls("wait", strconv.FormatInt(runID, 10), "--timeout", "30s")...)
		require.Equal(t, 0, res.code, "a wake-up by NOTIFY was lost (a step waited for the 1-minute poll); stdout: %s\nstderr: %s", res.stdout, res.stderr)
		require.True(t, strings.HasPrefix(res.stdout, "completed\n"), res.stdout)
	})
}
