package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRenderProgress(t *testing.T) {
	t.Parallel()
	require.Equal(t, "walking the tree...  0.3s", renderProgress(0, 0, 0, 0, 300*time.Millisecond, 10))
	require.Equal(t, "waiting for a worker to walk the tree (is `worker run` running?)  6.0s",
		renderProgress(0, 0, 0, 0, 6*time.Second, 10))
	require.Equal(t, "[###.......]  30/100 files  30%  15.0 files/s  1 failed (2 retried)  2.0s",
		renderProgress(100, 30, 1, 2, 2*time.Second, 10))
	require.Equal(t, "[##########] 7/7 files 100%  3.5 files/s  0 failed  2.0s",
		renderProgress(7, 7, 0, 0, 2*time.Second, 10))
}
