package render_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// worker workers shows each worker's free slots: the number for a worker of
// one queue, queue=N pairs for more, "-" for one that does not say (its
// releases wake everyone).
func TestWorkersTextShowsFreeSlots(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	w := func(id int64, queues []string, free map[string]int) *flow.WorkerInfo {
		return &flow.WorkerInfo{ID: id, State: flow.WorkerStateAlive, Host: "h", PID: 100 + int(id), Queues: queues,
			StartedAt: now.Add(-time.Minute), LastSeenAt: now.Add(-time.Second), FreeSlots: free}
	}
	var b bytes.Buffer
	require.NoError(t, render.WorkersText(&b, []*flow.WorkerInfo{
		w(3, []string{"default"}, map[string]int{"default": 7}),
		w(2, []string{"default", "io"}, map[string]int{"io": 2, "default": 0}),
		w(1, []string{"default"}, nil),
	}, now))
	require.Regexp(t, `(?m)^ID\s+STATE\s+HOST\s+PID\s+RUNNING\s+FREE\s+QUEUES`, b.String())
	require.Regexp(t, `(?m)^3\s+alive\s+h\s+103\s+0\s+7\s+default\s`, b.String())
	require.Regexp(t, `(?m)^2\s+alive\s+h\s+102\s+0\s+default=0,io=2\s+default,io\s`, b.String())
	require.Regexp(t, `(?m)^1\s+alive\s+h\s+101\s+0\s+-\s+default\s`, b.String())
}
