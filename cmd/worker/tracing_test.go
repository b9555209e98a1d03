package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// collector is an in-process OTLP/HTTP trace receiver.
type collector struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (c *collector) all() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tracepb.Span(nil), c.spans...)
}

// `worker run` with an OTLP endpoint in its environment sends one trace per
// run to it: the run's span, and a span per node under it linked to its
// parents' spans.
func TestRunSendsTracesOverOTLP(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	cmd := exec.Command(workerBinary(t), db(pool, "run", "--max-conns", "10")...)
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL, "OTEL_BSP_SCHEDULE_DELAY=50")
	w := startWorkerCmd(t, cmd)
	require.Contains(t, w.logText(), `"tracing":"OTLP/HTTP `+srv.URL+`"`)

	spec, err := os.ReadFile(diamondSpec)
	require.NoError(t, err)
	id := startRun(t, pool, string(spec))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := flow.NewClient(pool, nil).Wait(ctx, id)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)

	var runSpan *tracepb.Span
	var nodes []*tracepb.Span
	require.Eventually(t, func() bool {
		runSpan, nodes = nil, nil
		for _, s := range col.all() {
			switch {
			case strings.HasPrefix(s.GetName(), "flow.run"):
				runSpan = s
			case strings.HasPrefix(s.GetName(), "river.work/"):
				nodes = append(nodes, s)
			}
		}
		return runSpan != nil && len(nodes) == 4
	}, 20*time.Second, 20*time.Millisecond, "the run's span and four node spans")
	require.Empty(t, runSpan.GetParentSpanId())
	nodeOf := map[string]string{}
	for _, n := range nodes {
		require.True(t, bytes.Equal(runSpan.GetTraceId(), n.GetTraceId()), "one trace")
		require.Equal(t, hex.EncodeToString(runSpan.GetSpanId()), hex.EncodeToString(n.GetParentSpanId()))
		for _, a := range n.GetAttributes() {
			if a.GetKey() == "flow.node_id" {
				nodeOf[hex.EncodeToString(n.GetSpanId())] = a.GetValue().GetStringValue()
			}
		}
	}
	links := 0
	for _, n := range nodes {
		for _, l := range n.GetLinks() {
			require.NotEmpty(t, nodeOf[hex.EncodeToString(l.GetSpanId())], "links point at node spans of the trace")
			links++
		}
	}
	require.Equal(t, 4, links, "the diamond's four edges")
}
