package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowtest"
)

// `worker bench --trace --http-addr` runs the shapes with the operations
// surface on: every node traced (the spans counted in the notes) and the
// HTTP server up. It measures nothing here; the lead compares the numbers
// with and without on a quiet machine.
func TestBenchWithTracingAndHTTP(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	addr := freeAddr(t)
	res := cli(t, "", db(pool, "bench", "--in-place", "--quick", "--shape", "chain", "--json", "--trace", "--http-addr", addr)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var rep struct {
		Settings struct {
			HTTPAddr string `json:"http_addr"`
			Trace    bool   `json:"trace"`
		} `json:"settings"`
		Results []struct {
			Nodes int    `json:"nodes"`
			Notes string `json:"notes"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep), "stdout: %s", res.stdout)
	require.Equal(t, addr, rep.Settings.HTTPAddr)
	require.True(t, rep.Settings.Trace)
	require.Len(t, rep.Results, 1)
	m := regexp.MustCompile(`tracing: (\d+) spans`).FindStringSubmatch(rep.Results[0].Notes)
	require.NotNil(t, m, rep.Results[0].Notes)
	spans, _ := strconv.Atoi(m[1])
	require.GreaterOrEqual(t, spans, rep.Results[0].Nodes+1, "a span per node and the run's")
}
