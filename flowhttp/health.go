package flowhttp

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/htdag/htdag/flow"
)

// probeTimeout bounds one probe's database round trip.
const probeTimeout = 2 * time.Second

// healthz: the process answers and its database is reachable. A pool whose
// every connection is in use counts as reachable (it is busy working): a
// liveness probe must not kill a worker for being loaded.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.poolReachable(r.Context()); err != nil {
		probeAnswer(w, http.StatusServiceUnavailable, "unhealthy: "+err.Error())
		return
	}
	probeAnswer(w, http.StatusOK, "ok")
}

// readyz: healthy, the River client started and not stopped, and the worker
// a live member of the fleet.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.poolReachable(r.Context()); err != nil {
		probeAnswer(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	if err := s.riverRunning(); err != nil {
		probeAnswer(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	if mw := flow.MiddlewareOf(s.opts.RiverConfig); mw != nil {
		f := mw.Fleet()
		switch {
		case f == nil:
			probeAnswer(w, http.StatusServiceUnavailable, "not ready: not registered in the fleet (flow.JoinFleet)")
			return
		case f.DeclaredDead():
			probeAnswer(w, http.StatusServiceUnavailable, fmt.Sprintf("not ready: worker %d was declared dead by the fleet", f.ID()))
			return
		}
	}
	probeAnswer(w, http.StatusOK, "ok")
}

func (s *Server) poolReachable(ctx context.Context) error {
	st := s.opts.Pool.Stat()
	if st.MaxConns() > 0 && st.AcquiredConns() >= st.MaxConns() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := s.opts.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}

// riverRunning: River's Stopped channel is nil before Start and closed once
// the client stopped.
func (s *Server) riverRunning() error {
	if s.opts.River == nil {
		return nil
	}
	stopped := s.opts.River.Stopped()
	if stopped == nil {
		return fmt.Errorf("the River client has not started")
	}
	select {
	case <-stopped:
		return fmt.Errorf("the River client stopped")
	default:
		return nil
	}
}

func probeAnswer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
