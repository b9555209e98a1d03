package bench

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// TestFull runs the full benchmark on the database named by HTDAG_BENCH_URL
// (it is skipped without it). The database must be migrated and empty, and
// is truncated: give it one of its own, e.g. a copy of the test template
// (docs/BENCHMARKS.md). HTDAG_BENCH_SHAPES picks shapes (comma-separated),
// HTDAG_BENCH_JSON names a file for the JSON report, and HTDAG_BENCH_KEEP=1
// leaves the last shape's rows in the tables for inspection. The pool has 20
// connections unless the URL sets pool_max_conns.
//
//	HTDAG_BENCH_URL=postgres://postgres@127.0.0.1/htdag_bench \
//	  go test -count=1 -run TestFull -timeout 30m -v ./internal/bench/
func TestFull(t *testing.T) {
	url := os.Getenv("HTDAG_BENCH_URL")
	if url == "" {
		t.Skip("HTDAG_BENCH_URL is not set")
	}
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 20
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()

	keepLastShape = os.Getenv("HTDAG_BENCH_KEEP") != ""
	opts := Options{Progress: os.Stderr}
	if s := os.Getenv("HTDAG_BENCH_SHAPES"); s != "" {
		opts.Shapes = strings.Split(s, ",")
	}
	rep, err := Run(ctx, pool, opts)
	if rep != nil {
		require.NoError(t, rep.WriteTable(os.Stdout))
	}
	require.NoError(t, err)
	if path := os.Getenv("HTDAG_BENCH_JSON"); path != "" {
		raw, err := json.MarshalIndent(rep, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(raw, '\n'), 0o644))
	}
}
