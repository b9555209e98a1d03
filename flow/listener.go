package flow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
)

// listenerReconnectDelay is how long the listener waits before connecting
// again after its connection failed or was lost.
const listenerReconnectDelay = 500 * time.Millisecond

// listenCheckTimeout is how long a new LISTEN may take to hear its own
// check notification before the session falls back to polling (directly
// it is heard in milliseconds).
const listenCheckTimeout = 2 * time.Second

// listenerPollInterval is how often waited runs are read when the LISTEN
// does not hear (a transaction-mode pooler).
var listenerPollInterval = time.Second

// readRunsBatch bounds how many runs one read of finished runs asks for.
const readRunsBatch = 1000

// runListener shares one LISTEN on RunFinishedChannel among every waiter of
// a Client. A session (one pgxlisten.Listener and one reader goroutine)
// starts with the first waiter and stops when the last one leaves; a new
// session starts only after the previous one has closed its connection, so a
// Client never holds more than one LISTEN connection.
//
// Runs are read, in batches, by the session's reader on the pool, not on the
// LISTEN connection (pgxlisten calls handlers one at a time on it). A run is
// read when its waiter registers while LISTEN is in place, when its
// notification arrives, and after every (re)LISTEN for every waited run, so
// that a run that finished while no LISTEN was in place (before the first
// connect, or during a reconnect) is still seen.
type runListener struct {
	pool       *pgxpool.Pool
	connConfig *pgx.ConnConfig // nil: LISTEN on a connection taken from pool

	mu      sync.Mutex
	waiters map[int64][]*runWaiter // by run id
	count   int                    // waiters registered
	seq     uint64                 // registrations so far
	session *listenSession         // nil while no one waits
	// lastDone is closed when the most recent session has ended.
	lastDone chan struct{}
}

// listenSession is one period of listening, from the first waiter to the
// last. Its fields are guarded by runListener.mu.
type listenSession struct {
	cancel context.CancelFunc
	done   chan struct{} // closed once its connection is closed and its reader has ended
	// listening is true from a LISTEN's backlog check to the next connect.
	listening bool
	// polling: the LISTEN was found not to hear; waited runs are read each
	// listenerPollInterval instead.
	polling bool
	pending map[int64]struct{} // runs to read
	wake    chan struct{}      // capacity 1: pending has runs
}

// runWaiter is one call of WaitMany. Its fields are guarded by
// runListener.mu until done is closed.
type runWaiter struct {
	seq  uint64
	ids  []int64 // distinct
	runs map[int64]*Run
	err  error
	done chan struct{}
}

func newRunListener(pool *pgxpool.Pool, connConfig *pgx.ConnConfig) *runListener {
	return &runListener{pool: pool, connConfig: connConfig, waiters: map[int64][]*runWaiter{}}
}

// add registers a waiter for ids (distinct, at least one), starting a session
// if none runs.
func (l *runListener) add(ids []int64) *runWaiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	w := &runWaiter{seq: l.seq, ids: ids, runs: make(map[int64]*Run, len(ids)), done: make(chan struct{})}
	for _, id := range ids {
		l.waiters[id] = append(l.waiters[id], w)
	}
	l.count++
	if l.session == nil {
		l.startSession()
	}
	if l.session.listening {
		// A finish from now on is notified; one before is found by this read.
		l.session.request(ids)
	}
	// Otherwise the session's next backlog check reads every waited run.
	return w
}

// remove unregisters w and stops the session when no one waits any more.
func (l *runListener) remove(w *runWaiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range w.ids {
		ws := slices.DeleteFunc(l.waiters[id], func(x *runWaiter) bool { return x == w })
		if len(ws) == 0 {
			delete(l.waiters, id)
		} else {
			l.waiters[id] = ws
		}
	}
	l.count--
	if l.count == 0 {
		l.session.cancel()
		l.session = nil
	}
}

// startSession starts a session; l.mu is held.
func (l *runListener) startSession() {
	ctx, cancel := context.WithCancel(context.Background())
	s := &listenSession{cancel: cancel, done: make(chan struct{}), pending: map[int64]struct{}{}, wake: make(chan struct{}, 1)}
	prev := l.lastDone
	l.lastDone = s.done
	l.session = s
	go l.run(ctx, s, prev)
}

// request asks the session's reader to read ids; runListener.mu is held.
func (s *listenSession) request(ids []int64) {
	for _, id := range ids {
		s.pending[id] = struct{}{}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (l *runListener) run(ctx context.Context, s *listenSession, prev chan struct{}) {
	defer close(s.done)
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { l.read(ctx, s) })
	listener := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			l.mu.Lock()
			s.listening = false
			l.mu.Unlock()
			if l.connConfig != nil {
				return pgx.ConnectConfig(ctx, l.connConfig)
			}
			conn, err := l.pool.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			return conn.Hijack(), nil
		},
		ReconnectDelay: listenerReconnectDelay,
	}
	listener.Handle(RunFinishedChannel, &sessionHandler{l: l, s: s})
	_ = listener.Listen(ctx) // returns when ctx ends; it closes its connection
	wg.Wait()
}

// sessionHandler receives one session's notifications.
type sessionHandler struct {
	l *runListener
	s *listenSession
}

// HandleBacklog runs after every (re)LISTEN: from here on every finish is
// notified, and every run finished before (or during a reconnect) is found
// by reading all waited runs. It then proves that the LISTEN hears: through
// a transaction-mode pooler (a Client on a PgBouncer pool without
// Config.ListenConnConfig) it would not, and waits would never end; there
// the session falls back to reading every waited run each
// listenerPollInterval.
func (h *sessionHandler) HandleBacklog(ctx context.Context, _ string, conn *pgx.Conn) error {
	h.l.mu.Lock()
	h.s.listening = true
	h.s.request(h.l.waitedIDs())
	polling := h.s.polling
	h.l.mu.Unlock()
	if polling {
		return nil // decided for this session
	}
	heard, err := h.hears(ctx, conn)
	if err != nil {
		return err // pgxlisten connects again
	}
	if !heard {
		h.l.mu.Lock()
		h.s.polling = true
		h.l.mu.Unlock()
		go h.l.poll(ctx, h.s)
	}
	return nil
}

// hears reports whether conn hears a NOTIFY sent from the pool (another
// connection: a pooler cannot hand it back with the sender's own answer).
// A run's notification that arrives meanwhile is handled as usual.
func (h *sessionHandler) hears(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	channel := "htdag_listen_check_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return false, err
	}
	if _, err := h.l.pool.Exec(ctx, "SELECT pg_notify($1, '')", channel); err != nil {
		return false, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, listenCheckTimeout)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(waitCtx)
		switch {
		case n != nil && n.Channel == channel:
			if _, err := conn.Exec(ctx, "UNLISTEN "+channel); err != nil {
				return false, err
			}
			// Again pgxlisten's statement, so that pg_stat_activity shows
			// the connection as what it is (LISTEN is idempotent).
			_, err := conn.Exec(ctx, "listen "+pgx.Identifier{RunFinishedChannel}.Sanitize())
			return true, err
		case n != nil:
			_ = h.HandleNotification(ctx, n, conn)
		case waitCtx.Err() != nil && ctx.Err() == nil:
			return false, nil
		default:
			return false, err
		}
	}
}

// poll requests a read of every waited run each listenerPollInterval, for a
// session whose LISTEN does not hear, until the session ends.
func (l *runListener) poll(ctx context.Context, s *listenSession) {
	tick := time.NewTicker(listenerPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.mu.Lock()
		s.request(l.waitedIDs())
		l.mu.Unlock()
	}
}

// waitedIDs lists the runs someone waits for; l.mu is held.
func (l *runListener) waitedIDs() []int64 {
	ids := make([]int64, 0, len(l.waiters))
	for id := range l.waiters {
		ids = append(ids, id)
	}
	return ids
}

// HandleNotification asks for a read of a waited run that finished.
func (h *sessionHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var msg struct {
		RunID int64 `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(n.Payload), &msg); err != nil {
		return nil //nolint:nilerr // not a payload of ours; the backlog check covers any run
	}
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if _, ok := h.l.waiters[msg.RunID]; ok {
		h.s.request([]int64{msg.RunID})
	}
	return nil
}

// read reads the requested runs until the session ends.
func (l *runListener) read(ctx context.Context, s *listenSession) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		l.mu.Lock()
		ids := make([]int64, 0, len(s.pending))
		for id := range s.pending {
			if _, ok := l.waiters[id]; ok {
				ids = append(ids, id)
			}
		}
		clear(s.pending)
		// Only waiters registered by now are answered from this read: one
		// that registers later has its own read, which sees a run retried
		// in between as running again.
		seq := l.seq
		l.mu.Unlock()

		slices.Sort(ids)
		var again []int64
		for chunk := range slices.Chunk(ids, readRunsBatch) {
			runs, err := readRuns(ctx, l.pool, chunk)
			if ctx.Err() != nil {
				return // no one waits any more
			}
			if err != nil && connectionFailed(err) {
				// The database may be restarting, or a pooled connection
				// died with the listener's: read again, as the listener
				// connects again, rather than fail the waiters.
				again = append(again, chunk...)
				continue
			}
			l.deliver(chunk, runs, err, seq)
		}
		if len(again) > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(listenerReconnectDelay):
			}
			l.mu.Lock()
			s.request(again)
			l.mu.Unlock()
		}
	}
}

// connectionFailed reports whether err says the database could not be
// reached or dropped the connection (so a later try may succeed), rather
// than that the server refused the statement.
func connectionFailed(err error) bool {
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention
			return true
		}
		return false
	}
	return true // no answer from the server at all
}

// readRuns reads the runs with the given ids, keyed by id.
func readRuns(ctx context.Context, q querier, ids []int64) (map[int64]*Run, error) {
	rows, err := q.Query(ctx, "SELECT "+runColumns+" FROM flow.run WHERE id = ANY ($1)", ids)
	if err != nil {
		return nil, err
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Run, error) { return scanRun(row) })
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*Run, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
	}
	return byID, nil
}

// deliver hands the read runs to their waiters: a finished run is found, a
// missing run or a failed read ends the waiter with an error, an unfinished
// run leaves it waiting for the run's notification.
func (l *runListener) deliver(ids []int64, runs map[int64]*Run, err error, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		run := runs[id]
		for _, w := range l.waiters[id] {
			if w.seq > seq || w.finished() {
				continue
			}
			switch {
			case err != nil:
				w.finish(fmt.Errorf("run %d: %w", id, err))
			case run == nil:
				w.finish(fmt.Errorf("run %d: %w", id, ErrRunNotFound))
			case run.State.Finished():
				w.runs[id] = run
				if len(w.runs) == len(w.ids) {
					w.finish(nil)
				}
			}
		}
	}
}

// finished reports whether w has its answer; runListener.mu is held.
func (w *runWaiter) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// finish ends w with err (nil: every run found); runListener.mu is held.
func (w *runWaiter) finish(err error) {
	w.err = err
	close(w.done)
}
