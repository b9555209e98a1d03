package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/htdag/htdag/flowotel"
)

// runTracing is `worker run`'s tracing: on when an OTLP endpoint is set in
// the environment (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; the exporter reads the other
// OTEL_EXPORTER_OTLP_* variables too), off otherwise.
type runTracing struct {
	tracing  *flowotel.Tracing
	shutdown func(context.Context) error
	endpoint string
	cancel   context.CancelFunc
}

func tracingEndpoint() string {
	if e := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); e != "" {
		return e
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
}

// installTracing installs flowotel in config when an endpoint is set; nil
// when not.
func (a *app) installTracing(ctx context.Context, config *river.Config, pool *pgxpool.Pool) (*runTracing, error) {
	endpoint := tracingEndpoint()
	if endpoint == "" {
		return nil, nil
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing (OTLP over HTTP to %s): %w", endpoint, err)
	}
	tp := flowotel.NewTracerProvider(exporter)
	t, err := flowotel.Install(config, pool, flowotel.Options{TracerProvider: tp, Logger: a.slog})
	if err != nil {
		return nil, err
	}
	return &runTracing{tracing: t, shutdown: tp.Shutdown, endpoint: endpoint}, nil
}

// start sends run spans until stop.
func (t *runTracing) start() {
	if t != nil {
		var ctx context.Context
		ctx, t.cancel = context.WithCancel(context.Background())
		t.tracing.Start(ctx)
	}
}

// stop flushes the spans not yet sent.
func (t *runTracing) stop() {
	if t == nil {
		return
	}
	if t.cancel != nil {
		t.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.shutdown(ctx)
}

func (t *runTracing) String() string {
	if t == nil {
		return "off"
	}
	return "OTLP/HTTP " + t.endpoint
}
