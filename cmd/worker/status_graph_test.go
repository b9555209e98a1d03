package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowtest"
)

// `worker status --format dot|mermaid` prints the run's DAG: every node and
// edge, the child runs as clusters down to --depth.
func TestStatusGraphFormats(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	runID := startRun(t, pool, threeLevelSpec)
	completeNodes(t, pool, runID, `[1, 2]`, "sub/gen")

	res := cli(t, "", db(pool, "status", strconv.FormatInt(runID, 10), "--format", "mermaid", "--depth", "0")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.True(t, strings.HasPrefix(res.stdout, "%% run "), res.stdout)
	require.Len(t, regexp.MustCompile(`(?m)^  r\d+_\d+\["`).FindAllString(res.stdout, -1), 3, "sub, after, independent:\n%s", res.stdout)
	require.Len(t, regexp.MustCompile(`(?m) --> `).FindAllString(res.stdout, -1), 1, "sub → after")
	require.NotContains(t, res.stdout, "subgraph")

	res = cli(t, "", db(pool, "status", strconv.FormatInt(runID, 10), "--format", "dot")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Equal(t, 2, strings.Count(res.stdout, "subgraph \"cluster_"), "sub's run and m's map run:\n%s", res.stdout)
	require.Regexp(t, `"\d+/gen" -> "\d+/m";`, res.stdout)
	require.Regexp(t, `"\d+/gen" \[label="gen\\nnoop · completed`, res.stdout)

	res = cli(t, "", db(pool, "status", strconv.FormatInt(runID, 10), "--format", "png")...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `--format "png": want text, json, dot or mermaid`)
}
