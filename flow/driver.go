package flow

import (
	"context"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Driver is River's pgx v5 driver with what a fleet needs on top: River's
// LISTEN may use a pool of its own (one that reaches PostgreSQL directly,
// when the main pool goes through a transaction-mode pooler, which cannot
// keep a LISTEN), and River's listener says when it is connected again after
// losing its connection (River logs only the loss).
//
//	client, err := river.NewClient(flow.NewDriver(pool, nil), config)
type Driver struct {
	*riverpgxv5.Driver
	listen *riverpgxv5.Driver
	logger *slog.Logger
}

// DriverOptions adjust [NewDriver]. The zero value is usable.
type DriverOptions struct {
	// ListenPool is where River's listener takes its connection. Default:
	// the driver's pool.
	ListenPool *pgxpool.Pool
	// Logger receives the listener's reconnections. Default: slog.Default().
	Logger *slog.Logger
}

// NewDriver returns the driver on pool. opts may be nil.
func NewDriver(pool *pgxpool.Pool, opts *DriverOptions) *Driver {
	o := DriverOptions{}
	if opts != nil {
		o = *opts
	}
	d := &Driver{Driver: riverpgxv5.New(pool), listen: riverpgxv5.New(o.ListenPool), logger: o.Logger}
	if o.ListenPool == nil {
		d.listen = d.Driver
	}
	if d.logger == nil {
		d.logger = slog.Default()
	}
	return d
}

var _ riverdriver.Driver[pgx.Tx] = (*Driver)(nil)

// GetListener implements riverdriver.Driver: River's listener, on the listen
// pool, logging reconnections.
func (d *Driver) GetListener(params *riverdriver.GetListenenerParams) riverdriver.Listener {
	return &reportingListener{Listener: d.listen.GetListener(params), logger: d.logger}
}

// reportingListener logs each connection after the first: River's notifier
// connects again only after it lost the previous one.
type reportingListener struct {
	riverdriver.Listener
	logger *slog.Logger

	mu        sync.Mutex
	connected int
}

func (l *reportingListener) Connect(ctx context.Context) error {
	if err := l.Listener.Connect(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	l.connected++
	again := l.connected > 1
	l.mu.Unlock()
	if again {
		l.logger.InfoContext(ctx, "htdag: River's listener is connected again; wake-ups by NOTIFY resume")
	}
	return nil
}
