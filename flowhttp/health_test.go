package flowhttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowhttp"
	"github.com/htdag/htdag/flowtest"
)

// /healthz and /readyz answer 200 for a started worker in the fleet, and
// /readyz 503 once its River client stopped.
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.get(t, "/healthz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = b.get(t, "/readyz")
	require.Equal(t, http.StatusOK, code, body)

	require.NoError(t, b.river.Stop(context.Background()))
	code, body = b.get(t, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "the River client stopped")
	code, _ = b.get(t, "/healthz")
	require.Equal(t, http.StatusOK, code, "the process and the database are still fine")
}

// Not ready before River starts, nor outside the fleet; not healthy when the
// database cannot be reached.
func TestNotReady(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	config := flowtest.RiverConfig(pool, nil)
	client, err := river.NewClient(riverpgxv5.New(pool), config)
	require.NoError(t, err)
	srv, err := flowhttp.New(flowhttp.Options{Pool: pool, River: client, RiverConfig: config, Logger: quietLogger})
	require.NoError(t, err)
	probe := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := probe("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "has not started")

	// Without a River client: only the fleet is looked at.
	srv, err = flowhttp.New(flowhttp.Options{Pool: pool, RiverConfig: config, Logger: quietLogger})
	require.NoError(t, err)
	code, body = probe("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not registered in the fleet")

	broken := flowtest.PoolOn(t, flowtest.DatabaseURL(pool))
	broken.Close()
	srv, err = flowhttp.New(flowhttp.Options{Pool: broken, Logger: quietLogger})
	require.NoError(t, err)
	code, body = probe("/healthz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "database unreachable")
	code, _ = probe("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
}
