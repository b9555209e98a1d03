package flow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultDirectCheckTimeout is how long [JoinFleet] waits for the NOTIFY
// that proves its session reaches PostgreSQL directly (see
// [ErrSessionNotDirect]). On a direct connection it arrives in milliseconds.
const DefaultDirectCheckTimeout = 10 * time.Second

// ErrSessionNotDirect says a session that must reach PostgreSQL directly
// goes through a transaction-mode pooler (PgBouncer's pool_mode =
// transaction, say): a LISTEN on it heard no NOTIFY. Such a pooler lends the
// server connection to other clients after each transaction, so it cannot
// keep a LISTEN (River's wake-ups would be lost: every step would wait for
// the 1 s poll) nor a session-level advisory lock (the fleet's liveness lock
// would end up on a server connection other clients use). [JoinFleet]
// refuses to start with it rather than run in a degraded mode.
var ErrSessionNotDirect = errors.New("htdag: the session does not reach PostgreSQL directly")

// DirectSession is one connection that reaches PostgreSQL directly (not
// through a transaction-mode pooler), for what lives in a session: River's
// LISTEN ([DriverOptions].Session) and the fleet's liveness lock
// ([FleetConfig].Session). Shared by both, it makes a worker process's
// connections its pool plus this one, and the pool may then go through a
// transaction-mode pooler such as PgBouncer.
//
// The connection is opened on first use and again after it was lost. A
// LISTEN or lock taken on the lost one is gone; their owners take them again
// (River's listener sees the loss as an error and listens anew, the
// heartbeat takes the lock anew). While River waits for a notification the
// connection is idle; another user (the heartbeat, once a second) interrupts
// the wait, runs its statement and hands the connection back, and
// notifications that arrived meanwhile are kept.
//
// Close it after the River client stopped and the fleet was left.
type DirectSession struct {
	config *pgx.ConnConfig
	// turn is held (a value sent) by whoever uses conn.
	turn chan struct{}

	mu       sync.Mutex
	conn     *pgx.Conn // replaced while holding turn and mu
	gen      uint64    // connections opened so far: conn's number
	appName  string
	queued   int                // statement users waiting for a turn
	yielded  chan struct{}      // closed when queued drops to 0
	stopWait context.CancelFunc // interrupts a notification wait in progress
	closed   bool

	// wake, when set, decides which insert notifications River's listener
	// on this session passes on (the fleet member's wakeFilter).
	wake atomic.Pointer[wakeFilter]
}

// NewDirectSession returns a session on config (copied), which must reach
// PostgreSQL directly. It connects on first use.
func NewDirectSession(config *pgx.ConnConfig) *DirectSession {
	return &DirectSession{
		config:  config.Copy(),
		turn:    make(chan struct{}, 1),
		appName: "htdag session",
		yielded: make(chan struct{}),
	}
}

// errSessionClosed is returned by a closed session's operations.
var errSessionClosed = errors.New("htdag: the direct session is closed")

// errSessionReconnected tells River's listener that the connection its
// LISTENs were on is gone (closed, or replaced by another): it listens again
// on the current one.
var errSessionReconnected = errors.New("htdag: the direct session lost its connection and opened another; LISTEN again")

// Close closes the session's connection (freeing whatever it held) and makes
// every later use fail.
func (s *DirectSession) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.stopWait != nil {
		s.stopWait()
	}
	s.mu.Unlock()
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.turn }()
	if s.conn == nil {
		return nil
	}
	return s.conn.Close(ctx)
}

// setApplicationName names the session in pg_stat_activity, now and after
// every reconnect.
func (s *DirectSession) setApplicationName(ctx context.Context, name string) error {
	s.mu.Lock()
	s.appName = name
	s.mu.Unlock()
	return s.with(ctx, func(conn *pgx.Conn, _ uint64) error {
		_, err := conn.Exec(ctx, "SET application_name = "+quoteLiteral(name))
		return err
	})
}

// with runs fn on the connection, opening it first if needed and
// interrupting a notification wait; gen is the connection's number. A
// connection that fn leaves broken is closed, so that the next use opens
// another.
func (s *DirectSession) with(ctx context.Context, fn func(conn *pgx.Conn, gen uint64) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	conn, gen, err := s.connected(ctx)
	if err != nil {
		return err
	}
	err = fn(conn, gen)
	if err != nil && !conn.IsClosed() && (isConnectionError(err) || ctx.Err() != nil) {
		_ = conn.Close(context.WithoutCancel(ctx))
	}
	return err
}

// withCurrent runs fn on the connection if it is open and is still number
// gen, without opening one; it returns errSessionReconnected otherwise.
func (s *DirectSession) withCurrent(ctx context.Context, gen uint64, fn func(conn *pgx.Conn) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	s.mu.Lock()
	conn, current := s.conn, s.gen
	s.mu.Unlock()
	if conn == nil || conn.IsClosed() || current != gen {
		return errSessionReconnected
	}
	err := fn(conn)
	if err != nil && !conn.IsClosed() && (isConnectionError(err) || ctx.Err() != nil) {
		_ = conn.Close(context.WithoutCancel(ctx))
	}
	return err
}

// acquire takes a turn on the connection for a statement, interrupting a
// notification wait; release gives it back.
func (s *DirectSession) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSessionClosed
	}
	s.queued++
	if s.stopWait != nil {
		s.stopWait()
	}
	s.mu.Unlock()
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		s.dequeue()
		return ctx.Err()
	}
}

func (s *DirectSession) release() {
	<-s.turn
	s.dequeue()
}

func (s *DirectSession) dequeue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued--
	if s.queued == 0 {
		close(s.yielded)
		s.yielded = make(chan struct{})
	}
}

// connected returns the open connection, opening one if there is none (or
// the last one was lost); the caller holds turn.
func (s *DirectSession) connected(ctx context.Context) (*pgx.Conn, uint64, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, 0, errSessionClosed
	}
	conn, gen, appName := s.conn, s.gen, s.appName
	s.mu.Unlock()
	if conn != nil && !conn.IsClosed() {
		return conn, gen, nil
	}
	conn, err := s.connect(ctx, appName)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, 0, errSessionClosed
	}
	s.conn = conn
	s.gen++
	return conn, s.gen, nil
}

// connect opens a connection with TCP keepalives short enough that
// PostgreSQL notices a lost host in about ten seconds (and frees the
// liveness lock), and so does this side. The server's keepalives are set
// after connecting rather than as startup parameters, which poolers refuse.
func (s *DirectSession) connect(ctx context.Context, appName string) (*pgx.Conn, error) {
	cc := s.config.Copy()
	cc.RuntimeParams = map[string]string{}
	for k, v := range s.config.RuntimeParams {
		cc.RuntimeParams[k] = v
	}
	cc.RuntimeParams["application_name"] = appName
	dialer := &net.Dialer{
		Timeout:         10 * time.Second,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3},
	}
	cc.DialFunc = dialer.DialContext
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3"); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// closeConn closes the current connection (the session stays usable: the
// next use opens another), as a killed process's would be.
func (s *DirectSession) closeConn(ctx context.Context) {
	if err := s.acquire(ctx); err != nil {
		return
	}
	defer s.release()
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		_ = conn.Close(ctx)
	}
}

// waitForNotification waits for a notification on connection number gen,
// yielding the connection to every statement user that asks for it. It
// returns errSessionReconnected once gen is no longer the connection.
func (s *DirectSession) waitForNotification(ctx context.Context, gen uint64) (*pgconn.Notification, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errSessionClosed
		}
		if s.queued > 0 {
			yielded := s.yielded
			s.mu.Unlock()
			select {
			case <-yielded:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		s.mu.Unlock()

		select {
		case s.turn <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
		if s.queued > 0 || s.closed {
			s.mu.Unlock()
			<-s.turn
			continue
		}
		conn := s.conn
		if s.gen != gen || conn == nil || conn.IsClosed() {
			s.mu.Unlock()
			<-s.turn
			return nil, errSessionReconnected
		}
		waitCtx, cancel := context.WithCancel(ctx)
		s.stopWait = cancel
		s.mu.Unlock()

		n, err := conn.WaitForNotification(waitCtx)

		s.mu.Lock()
		s.stopWait = nil
		s.mu.Unlock()
		interrupted := waitCtx.Err() != nil && ctx.Err() == nil
		cancel()
		lost := conn.IsClosed() // read while the turn is ours
		<-s.turn
		switch {
		case n != nil:
			return n, nil
		case interrupted && !lost:
			continue // someone else's turn; then wait again
		case err == nil:
			return nil, errors.New("htdag: notification wait ended without a notification")
		default:
			return nil, err
		}
	}
}

// checkDirect proves the session reaches PostgreSQL directly: a LISTEN on
// it must hear a NOTIFY sent on notifier (another connection, so that a
// pooler cannot hand the notification back as part of the sender's own
// answer). Through a transaction-mode pooler the LISTEN stays on a server
// connection the session no longer holds, and nothing is heard. It holds the
// connection throughout, so no other waiter takes the notification; one for
// another channel that arrives meanwhile is dropped (call it before River's
// listener starts).
func (s *DirectSession) checkDirect(ctx context.Context, notifier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, timeout time.Duration,
) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	channel := "htdag_direct_check_" + hex.EncodeToString(b[:])
	return s.with(ctx, func(conn *pgx.Conn, _ uint64) error {
		if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
			return err
		}
		if _, err := notifier.Exec(ctx, "SELECT pg_notify($1, 'check')", channel); err != nil {
			return fmt.Errorf("htdag: checking that the session reaches PostgreSQL directly: %w", err)
		}
		waitCtx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for {
			n, err := conn.WaitForNotification(waitCtx)
			switch {
			case n != nil && n.Channel == channel:
				_, err := conn.Exec(ctx, "UNLISTEN "+channel)
				return err
			case n != nil:
				continue // not ours
			case waitCtx.Err() != nil && ctx.Err() == nil:
				_ = conn.Close(ctx)
				return fmt.Errorf("%w: a LISTEN on it heard no NOTIFY within %s, as happens through a transaction-mode pooler "+
					"(such as PgBouncer with pool_mode = transaction), which can keep neither River's LISTEN nor the liveness lock; "+
					"give it a URL that reaches PostgreSQL directly (worker run --direct-database-url)", ErrSessionNotDirect, timeout)
			default:
				return fmt.Errorf("htdag: checking that the session reaches PostgreSQL directly: %w", err)
			}
		}
	})
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
