package flow

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver"
)

// sessionListener is River's listener on a [DirectSession]: River's LISTENs
// are issued on the session's connection, and River's notification waits
// yield it to the session's other users. It remembers its topics and which
// of the session's connections they are on. Whoever notices a lost
// connection first (River's wait, or the heartbeat, which opens another),
// the listener issues its LISTENs again on the current connection before
// anything else, so River is never left waiting on a connection that does
// not listen. An error that River sees (the connection lost under its wait,
// the server down) makes River connect and listen again as it would with a
// listener of its own.
type sessionListener struct {
	s      *DirectSession
	logger *slog.Logger

	mu               sync.Mutex
	connected        bool
	gen              uint64          // the session connection the topics are listened on
	topics           map[string]bool // River's topics, as listened on
	schema           string
	prefix           string // schema and a dot
	afterConnectExec string
}

var _ riverdriver.Listener = (*sessionListener)(nil)

func newSessionListener(s *DirectSession, schema string, logger *slog.Logger) *sessionListener {
	return &sessionListener{s: s, schema: schema, logger: logger, topics: map[string]bool{}}
}

func (l *sessionListener) Connect(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.connected {
		return errors.New("connection already established")
	}
	err := l.s.with(ctx, func(conn *pgx.Conn, gen uint64) error {
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
	if err != nil {
		return err
	}
	l.connected = true
	clear(l.topics)
	return nil
}

// onConnection runs fn on the session's connection, first listening there
// to every topic if the connection is not the one they were listened on
// (the session replaced a lost one); l.mu is held.
func (l *sessionListener) onConnection(ctx context.Context, fn func(conn *pgx.Conn) error) error {
	if !l.connected {
		return errors.New("htdag: River's listener is not connected")
	}
	return l.s.with(ctx, func(conn *pgx.Conn, gen uint64) error {
		if gen != l.gen {
			for _, topic := range slices.Sorted(maps.Keys(l.topics)) {
				if _, err := conn.Exec(ctx, "LISTEN "+l.channel(topic)); err != nil {
					return err
				}
			}
			l.gen = gen
			if w := l.s.wake.Load(); w != nil && l.topics[w.topic()] {
				w.listenGen.Store(gen)
			}
			if len(l.topics) > 0 {
				l.logger.InfoContext(ctx, "htdag: River's listener is connected again; wake-ups by NOTIFY resume")
			}
		}
		return fn(conn)
	})
}

func (l *sessionListener) channel(topic string) string {
	return pgx.Identifier{l.prefix + topic}.Sanitize()
}

func (l *sessionListener) Listen(ctx context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.onConnection(ctx, func(conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "LISTEN "+l.channel(topic)); err != nil {
			return err
		}
		l.topics[topic] = true
		// A fleet member that thins its wake-ups also hears on a channel
		// of its own the releases that chose it (flow.notify_runnable);
		// its heartbeat says so only once this LISTEN is in place.
		if w := l.s.wake.Load(); w != nil && topic == insertTopic {
			if _, err := conn.Exec(ctx, "LISTEN "+l.channel(w.topic())); err != nil {
				return err
			}
			l.topics[w.topic()] = true
			w.listenGen.Store(l.gen)
		}
		return nil
	})
}

func (l *sessionListener) Unlisten(ctx context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.topics, topic)
	w := l.s.wake.Load()
	own := w != nil && topic == insertTopic && l.topics[w.topic()]
	if own {
		w.listenGen.Store(0)
		delete(l.topics, w.topic())
	}
	return l.onConnection(ctx, func(conn *pgx.Conn) error {
		if own {
			if _, err := conn.Exec(ctx, "UNLISTEN "+l.channel(w.topic())); err != nil {
				return err
			}
		}
		_, err := conn.Exec(ctx, "UNLISTEN "+l.channel(topic))
		return err
	})
}

func (l *sessionListener) Ping(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.onConnection(ctx, func(conn *pgx.Conn) error { return conn.Ping(ctx) })
}

func (l *sessionListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	for {
		l.mu.Lock()
		gen, prefix := l.gen, l.prefix
		l.mu.Unlock()
		n, err := l.s.waitForNotification(ctx, gen)
		if errors.Is(err, errSessionReconnected) {
			// Another user opened a new connection: listen there, and wait.
			l.mu.Lock()
			err = l.onConnection(ctx, func(*pgx.Conn) error { return nil })
			l.mu.Unlock()
			if err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		topic := strings.TrimPrefix(n.Channel, prefix)
		if w := l.s.wake.Load(); w != nil {
			switch topic {
			case w.topic(): // a release chose this worker
				w.passed.Add(1)
				w.own.Add(1)
				topic = insertTopic
			case insertTopic:
				if !w.pass(n.Payload, n.PID) {
					continue // other workers were chosen to fetch these jobs
				}
			}
		}
		return &riverdriver.Notification{Topic: topic, Payload: n.Payload}, nil
	}
}

// Close ends River's LISTENs; the session's connection stays open for its
// other users (a broken one is closed, and the next use opens another).
func (l *sessionListener) Close(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return nil
	}
	l.connected = false
	clear(l.topics)
	if w := l.s.wake.Load(); w != nil {
		w.listenGen.Store(0)
	}
	err := l.s.withCurrent(ctx, l.gen, func(conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "UNLISTEN *"); err != nil {
			// Left listening, the connection would keep River's channels:
			// close it.
			_ = conn.Close(ctx)
			return err
		}
		return nil
	})
	if errors.Is(err, errSessionClosed) || errors.Is(err, errSessionReconnected) {
		return nil // closed, or lost: its LISTENs went with it
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
