package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

// `worker run --http-addr` serves the probes, metrics and pages: after a
// diamond and a hierarchical run, /healthz and /readyz answer 200, /metrics
// parses as Prometheus text and its completed attempts per kind are the
// completed jobs in the database, and `worker health` passes on /readyz.
func TestRunServesHTTP(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	ctx := context.Background()
	addr := freeAddr(t)
	w := startWorker(t, pool, "--http-addr", addr)
	require.Contains(t, w.logText(), `"http_addr":"`+addr+`"`)
	require.Contains(t, w.logText(), `"serves":["/healthz","/readyz","/metrics","/runs/","/riverui/"]`)
	base := "http://" + addr

	client := flow.NewClient(pool, nil)
	var ids []int64
	for _, file := range []string{diamondSpec, "../../examples/hierarchy.json"} {
		spec, err := os.ReadFile(file)
		require.NoError(t, err)
		id := startRun(t, pool, string(spec))
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		run, err := client.Wait(wctx, id)
		cancel()
		require.NoError(t, err)
		require.Equal(t, flow.RunStateCompleted, run.State, file)
		ids = append(ids, id)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := httpGet(t, base+path)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, body)
	}
	res := cli(t, "", "health", base+"/readyz")
	require.Equal(t, 0, res.code, "stdout %s stderr %s", res.stdout, res.stderr)
	require.Equal(t, "200 ok\n", res.stdout)
	res = cli(t, "", "health", base+"/nowhere")
	require.Equal(t, 1, res.code)

	code, body := httpGet(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	attempts := map[string]float64{}
	for _, m := range families["htdag_node_attempts_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["outcome"] == "completed" {
			attempts[labels["kind"]] += m.GetCounter().GetValue()
		}
	}
	rows, err := pool.Query(ctx, `SELECT kind, count(*) FROM river_job
		WHERE state = 'completed' AND metadata ? 'flow_run' AND kind NOT IN ('flow.workflow', 'flow.map') GROUP BY kind`)
	require.NoError(t, err)
	inDB := map[string]float64{}
	for rows.Next() {
		var (
			kind string
			n    int
		)
		require.NoError(t, rows.Scan(&kind, &n))
		inDB[kind] = float64(n)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, inDB, attempts, "completed attempts per kind, /metrics vs the database")
	require.Greater(t, inDB["decompose"], 10.0, "the hierarchy's expansions were worked")

	for _, id := range ids {
		code, body := httpGet(t, fmt.Sprintf("%s/runs/%d.json", base, id))
		require.Equal(t, http.StatusOK, code)
		var g struct {
			Run struct {
				State string `json:"state"`
			} `json:"run"`
		}
		require.NoError(t, json.Unmarshal(body, &g))
		require.Equal(t, "completed", g.Run.State)
	}
	code, _ = httpGet(t, base+"/riverui/")
	require.Equal(t, http.StatusOK, code)

	// Stopping: the listener goes with the worker.
	require.Equal(t, 0, w.stop(t))
	_, err = http.Get(base + "/healthz")
	require.Error(t, err)
}

// A taken --http-addr fails the start, before River starts.
func TestRunHTTPAddrTaken(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	res := cli(t, "", db(pool, "run", "--http-addr", ln.Addr().String())...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "--http-addr: listen tcp "+ln.Addr().String())
}
