package flow

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver"
)

// sessionListener is River's listener on a [DirectSession]: River's LISTENs
// are issued on the session's connection, and River's notification waits
// yield it to the session's other users. It remembers which of the
// session's connections its LISTENs are on; once the session has opened
// another, every call fails with errSessionReconnected, and River connects
// the listener again and listens anew, as after losing a connection of its
// own.
type sessionListener struct {
	s *DirectSession

	mu               sync.Mutex
	gen              uint64 // the session connection listened on; 0 while not connected
	schema           string
	prefix           string // schema and a dot
	afterConnectExec string
}

var _ riverdriver.Listener = (*sessionListener)(nil)

func newSessionListener(s *DirectSession, schema string) *sessionListener {
	return &sessionListener{s: s, schema: schema}
}

func (l *sessionListener) Connect(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != 0 {
		return errors.New("connection already established")
	}
	return l.s.with(ctx, func(conn *pgx.Conn, gen uint64) error {
		if l.afterConnectExec != "" {
			if _, err := conn.Exec(ctx, l.afterConnectExec); err != nil {
				return err
			}
		}
		if l.schema == "" {
			// As River's own listener: the schema of search_path.
			if err := conn.QueryRow(ctx, "SELECT coalesce(current_schema(), '')").Scan(&l.schema); err != nil {
				return err
			}
		}
		if l.schema != "" {
			l.prefix = l.schema + "."
		}
		l.gen = gen
		return nil
	})
}

// onConnection runs fn on the session's connection if it is still the one
// Connect found, else fails with errSessionReconnected.
func (l *sessionListener) onConnection(ctx context.Context, fn func(conn *pgx.Conn) error) error {
	l.mu.Lock()
	gen := l.gen
	l.mu.Unlock()
	return l.s.with(ctx, func(conn *pgx.Conn, g uint64) error {
		if g != gen {
			return errSessionReconnected
		}
		return fn(conn)
	})
}

func (l *sessionListener) Listen(ctx context.Context, topic string) error {
	return l.onConnection(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.prefix + topic}.Sanitize())
		return err
	})
}

func (l *sessionListener) Unlisten(ctx context.Context, topic string) error {
	err := l.onConnection(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "UNLISTEN "+pgx.Identifier{l.prefix + topic}.Sanitize())
		return err
	})
	if errors.Is(err, errSessionReconnected) {
		return nil // the LISTEN went with the old connection
	}
	return err
}

func (l *sessionListener) Ping(ctx context.Context) error {
	return l.onConnection(ctx, func(conn *pgx.Conn) error { return conn.Ping(ctx) })
}

func (l *sessionListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	l.mu.Lock()
	gen, prefix := l.gen, l.prefix
	l.mu.Unlock()
	n, err := l.s.waitForNotification(ctx, gen)
	if err != nil {
		return nil, err
	}
	return &riverdriver.Notification{Topic: strings.TrimPrefix(n.Channel, prefix), Payload: n.Payload}, nil
}

// Close ends River's LISTENs; the session's connection stays open for its
// other users (a broken one is closed, and the next use opens another).
func (l *sessionListener) Close(ctx context.Context) error {
	l.mu.Lock()
	gen := l.gen
	l.gen = 0
	l.mu.Unlock()
	if gen == 0 {
		return nil
	}
	err := l.s.with(ctx, func(conn *pgx.Conn, g uint64) error {
		if g != gen {
			return nil
		}
		if _, err := conn.Exec(ctx, "UNLISTEN *"); err != nil {
			// Left listening, the connection would keep River's channels:
			// close it.
			_ = conn.Close(ctx)
			return err
		}
		return nil
	})
	if errors.Is(err, errSessionClosed) {
		return nil
	}
	return err
}

func (l *sessionListener) Schema() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.schema
}

func (l *sessionListener) SetAfterConnectExec(sql string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.afterConnectExec = sql
}
