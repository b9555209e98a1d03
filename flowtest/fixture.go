package flowtest

import (
	"os"
	"testing"
)

// CopyFixture copies the directory tree src (a fixture under testdata, say)
// to a new temporary directory that the test may change, removed when tb
// ends, and returns that directory. Files keep their execute permissions,
// symbolic links are copied as links (os.CopyFS).
func CopyFixture(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		tb.Fatalf("flowtest: copying %s: %v", src, err)
	}
	return dst
}
