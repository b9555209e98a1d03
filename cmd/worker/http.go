package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flowhttp"
)

// opsServer is `worker run --http-addr`: flowhttp's handler on a listener
// opened before River starts (so a taken port fails the start) and served
// once River has started (so readiness reads a started client).
type opsServer struct {
	ln     net.Listener
	srv    *http.Server
	ops    *flowhttp.Server
	cancel context.CancelFunc
}

// listenOps opens addr; nil when addr is empty (the server is off).
func (a *app) listenOps(addr string) (*opsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr: %w", err)
	}
	return &opsServer{ln: ln}, nil
}

// serve starts flowhttp on the started River client; it serves until stop.
func (o *opsServer) serve(a *app, pool *pgxpool.Pool, client *river.Client[pgx.Tx], config *river.Config) error {
	ops, err := flowhttp.New(flowhttp.Options{Pool: pool, River: client, RiverConfig: config, Logger: a.slog})
	if err != nil {
		_ = o.ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := ops.Start(ctx); err != nil {
		cancel()
		_ = o.ln.Close()
		return err
	}
	o.ops, o.cancel = ops, cancel
	o.srv = &http.Server{Handler: ops, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := o.srv.Serve(o.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("http server stopped")
		}
	}()
	a.log.Info().Str("http_addr", o.ln.Addr().String()).Strs("serves", ops.Paths()).Msg("http server listening")
	return nil
}

// addr is where it listens ("" when off).
func (o *opsServer) addr() string {
	if o == nil {
		return ""
	}
	return o.ln.Addr().String()
}

// stop ends the server: probes answer no more once the worker has stopped.
func (o *opsServer) stop() {
	if o == nil {
		return
	}
	if o.srv == nil {
		_ = o.ln.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = o.srv.Shutdown(ctx)
	o.cancel()
}
