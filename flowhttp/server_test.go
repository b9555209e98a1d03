package flowhttp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	dto "github.com/prometheus/client_model/go"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowhttp"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

var quietLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// bundle is a database, a started River client working the built-in kinds
// with the metrics observer installed, and the server on it.
type bundle struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	flow   *flow.Client
	river  *river.Client[pgx.Tx]
	config *river.Config
	srv    *flowhttp.Server
	http   *httptest.Server
}

func setup(t *testing.T) *bundle {
	t.Helper()
	pool := flowtest.NewPool(t)
	workers := river.NewWorkers()
	jobs.Register(workers)
	config := flowtest.RiverConfig(pool, workers)
	b := &bundle{ctx: context.Background(), pool: pool, flow: flow.NewClient(pool, nil), config: config}
	// Served after River started, as `worker run` does: readiness reads
	// River's state. No run starts before the observer is in place.
	b.river = flowtest.StartRiver(t, pool, config)
	var err error
	b.srv, err = flowhttp.New(flowhttp.Options{Pool: pool, River: b.river, RiverConfig: config, Logger: quietLogger})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, b.srv.Start(ctx))
	b.http = httptest.NewServer(b.srv)
	t.Cleanup(b.http.Close)
	return b
}

func (b *bundle) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(b.http.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func (b *bundle) run(t *testing.T, spec string) *flow.Run {
	t.Helper()
	id, err := b.flow.Start(b.ctx, flow.JSONSpec(spec))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	run, err := b.flow.Wait(ctx, id)
	require.NoError(t, err)
	return run
}

// scrape reads /metrics with Prometheus' own text parser.
func (b *bundle) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(b.http.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

// value is the metric of family with the given labels (nil: none).
func value(families map[string]*dto.MetricFamily, family string, labels map[string]string) *dto.Metric {
	f := families[family]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

const diamond = `{"name": "diamond", "nodes": [
	{"id": "a", "kind": "echo"}, {"id": "b", "kind": "echo", "deps": ["a"]},
	{"id": "c", "kind": "noop", "deps": ["a"]}, {"id": "d", "kind": "echo", "deps": ["b", "c"]}]}`
