package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/sqlcatalog"
	"github.com/htdag/htdag/internal/testdb"
)

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
		}
	}
	return dst
}

// A generated migration holds the named objects' current text and the grants,
// under the next number, and applies cleanly to a migrated database without
// changing its catalog (the files and the migrations agree today).
func TestSnapWritesAReplayableMigration(t *testing.T) {
	t.Parallel()
	src := copyDir(t, "../../sql/flow")
	dst := copyDir(t, "../../migrations")

	before, err := filepath.Glob(filepath.Join(dst, "[0-9][0-9][0-9][0-9]_*.sql"))
	require.NoError(t, err)
	highest, err := strconv.Atoi(filepath.Base(before[len(before)-1])[:4])
	require.NoError(t, err)

	path, err := snap(src, dst, "cancel_again", []string{"function_cancel", "40_view_runs.sql", "flow_release"})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dst, fmt.Sprintf("%04d_cancel_again.sql", highest+1)), path)
	after, err := filepath.Glob(filepath.Join(dst, "[0-9][0-9][0-9][0-9]_*.sql"))
	require.NoError(t, err)
	require.Len(t, after, len(before)+1)

	body, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(body)
	for _, f := range []string{"20_function_cancel.sql", "30_trigger_flow_release.sql", "40_view_runs.sql", "90_grants.sql"} {
		want, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.Contains(t, text, string(want), "the migration carries %s verbatim", f)
	}
	require.Less(t, strings.Index(text, "-- 20_function_cancel.sql"), strings.Index(text, "-- 30_trigger_flow_release.sql"), "apply order")
	require.NotContains(t, text, "CREATE TABLE")

	// A table the migration creates comes first, as is.
	withTable, err := snap(src, dst, "with_table", []string{"function_cancel"}, "table_tree_count")
	require.NoError(t, err)
	body, err = os.ReadFile(withTable)
	require.NoError(t, err)
	tableFile, err := os.ReadFile(filepath.Join(src, "12_table_tree_count.sql"))
	require.NoError(t, err)
	require.Contains(t, string(body), string(tableFile))
	require.Less(t, strings.Index(string(body), "CREATE TABLE"), strings.Index(string(body), "CREATE OR REPLACE FUNCTION"))

	ctx := context.Background()
	pool := testdb.New(t)
	catBefore, err := sqlcatalog.Snapshot(ctx, pool, "flow")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, text)
	require.NoError(t, err)
	catAfter, err := sqlcatalog.Snapshot(ctx, pool, "flow")
	require.NoError(t, err)
	require.Empty(t, sqlcatalog.Diff(catBefore, catAfter))
}

func TestSnapRefuses(t *testing.T) {
	t.Parallel()
	src := copyDir(t, "../../sql/flow")
	dst := copyDir(t, "../../migrations")
	for _, tc := range []struct {
		name    string
		objects []string
		want    string
	}{
		{"add_col", []string{"table_run"}, "is a table"},
		{"x", []string{"no_such_thing"}, `no file in the source directory is "no_such_thing"`},
		{"x", []string{"grants"}, "is not one object"},
		{"Bad-Name", []string{"function_cancel"}, `migration name "Bad-Name"`},
	} {
		_, err := snap(src, dst, tc.name, tc.objects)
		require.ErrorContains(t, err, tc.want, "%v", tc.objects)
	}
	for _, tc := range []struct {
		create []string
		want   string
	}{
		{[]string{"function_cancel"}, "is not a table or a policy"},
		{[]string{"table_nope"}, `no file in the source directory is "table_nope"`},
	} {
		_, err := snap(src, dst, "x", []string{"function_cancel"}, tc.create...)
		require.ErrorContains(t, err, tc.want, "%v", tc.create)
	}
	after, err := filepath.Glob(filepath.Join(dst, "*.sql"))
	require.NoError(t, err)
	before, err := filepath.Glob("../../migrations/*.sql")
	require.NoError(t, err)
	require.Len(t, after, len(before), "nothing was written")
}
