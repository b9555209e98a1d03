package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Driver is River's pgx v5 driver with what a fleet needs on top: River's
// LISTEN may use a pool of its own (one that reaches PostgreSQL directly,
// when the main pool goes through a transaction-mode pooler, which cannot
// keep a LISTEN), River's listener says when it is connected again after
// losing its connection (River logs only the loss), and River's control
// messages are checked against the database before River acts on them.
//
// NOTIFY takes no privilege: any login can send River a control message, and
// River trusts it. Through this driver, a "cancel" of a job reaches River
// only if the job's metadata says a cancel was asked for (JobCancel and
// flow.cancel set cancel_attempted_at before they notify), and a "pause" or
// "resume" only if river_queue says the queue is paused or not; others are
// dropped, with a warning.
//
// River's completer, through this driver, also skips the jobs that htdag's
// [Middleware] on the same pool has completed already: River would set them
// completed a second time, a statement that changes nothing (17% of all
// statement time on a fan-out, measured). River's completed events for them
// still arrive, with the job as it was fetched, completed and finalized.
//
//	client, err := river.NewClient(flow.NewDriver(pool, nil), config)
type Driver struct {
	*riverpgxv5.Driver
	pool    *pgxpool.Pool
	listen  *riverpgxv5.Driver
	session *DirectSession
	logger  *slog.Logger
}

// DriverOptions adjust [NewDriver]. The zero value is usable.
type DriverOptions struct {
	// ListenPool is where River's listener takes its connection. Default:
	// the driver's pool.
	ListenPool *pgxpool.Pool
	// Session, when set, is where River's listener LISTENs instead: the
	// process's one direct connection, shared with the fleet's liveness lock
	// ([FleetConfig].Session), so that the pool may go through a
	// transaction-mode pooler. It takes precedence over ListenPool.
	// Default: nil.
	Session *DirectSession
	// Logger receives the listener's reconnections. Default: slog.Default().
	Logger *slog.Logger
}

// NewDriver returns the driver on pool. opts may be nil.
func NewDriver(pool *pgxpool.Pool, opts *DriverOptions) *Driver {
	o := DriverOptions{}
	if opts != nil {
		o = *opts
	}
	d := &Driver{Driver: riverpgxv5.New(pool), pool: pool, listen: riverpgxv5.New(o.ListenPool), session: o.Session, logger: o.Logger}
	if o.ListenPool == nil {
		d.listen = d.Driver
	}
	if d.logger == nil {
		d.logger = slog.Default()
	}
	return d
}

var _ riverdriver.Driver[pgx.Tx] = (*Driver)(nil)

// GetExecutor implements riverdriver.Driver: River's executor, except that
// River's completer skips the jobs htdag's middleware on the same pool has
// completed already (see completedJobs).
func (d *Driver) GetExecutor() riverdriver.Executor {
	return &completedJobsExecutor{Executor: d.Driver.GetExecutor(), completed: completedJobsOf(d.pool)}
}

// GetListener implements riverdriver.Driver: River's listener, on the
// session or else the listen pool, logging reconnections.
func (d *Driver) GetListener(params *riverdriver.GetListenenerParams) riverdriver.Listener {
	listener := d.listen.GetListener(params)
	if d.session != nil {
		listener = newSessionListener(d.session, params.Schema, d.logger)
	}
	return &reportingListener{Listener: listener, logger: d.logger, pool: d.pool}
}

// reportingListener logs each connection after the first: River's notifier
// connects again only after it lost the previous one.
type reportingListener struct {
	riverdriver.Listener
	logger *slog.Logger
	pool   *pgxpool.Pool

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

// controlTopic is River's topic for control messages (its schema prefix is
// trimmed by the listener).
const controlTopic = "river_control"

// WaitForNotification implements riverdriver.Listener: River's control
// messages that the database does not back are dropped.
func (l *reportingListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	for {
		n, err := l.Listener.WaitForNotification(ctx)
		if err != nil || n == nil || n.Topic != controlTopic {
			return n, err
		}
		ok, why := l.verifyControl(ctx, n.Payload)
		if ok {
			return n, nil
		}
		l.logger.WarnContext(ctx, "htdag: ignored a River control message the database does not back; someone sent it by hand",
			"payload", n.Payload, "reason", why)
	}
}

// verifyControl says whether the database backs a control message: a cancel
// of a job whose cancel was asked for, a pause of a paused queue, a resume of
// a queue that is not paused. Other actions pass. When the database cannot be
// asked, the message passes: River's own polling catches up anyway, and a
// cancel stays safe (htdag's completer refuses what was not asked for).
func (l *reportingListener) verifyControl(ctx context.Context, payload string) (bool, string) {
	var msg struct {
		Action string `json:"action"`
		JobID  int64  `json:"job_id"`
		Queue  string `json:"queue"`
	}
	if err := json.Unmarshal([]byte(payload), &msg); err != nil {
		return false, "not JSON"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var backed bool
	var err error
	switch msg.Action {
	case "cancel":
		err = l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job WHERE id = $1 AND metadata ? 'cancel_attempted_at')`,
			msg.JobID).Scan(&backed)
		if err == nil && !backed {
			return false, fmt.Sprintf("job %d has no cancel asked for", msg.JobID)
		}
	case "pause", "resume":
		err = l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_queue WHERE ($1 = '*' OR name = $1) AND (paused_at IS NOT NULL) = ($2 = 'pause'))`,
			msg.Queue, msg.Action).Scan(&backed)
		if err == nil && !backed {
			return false, fmt.Sprintf("queue %q is not %sd in river_queue", msg.Queue, msg.Action)
		}
	}
	if err != nil {
		l.logger.WarnContext(ctx, "htdag: could not check a River control message; passing it on", "error", err)
	}
	return true, ""
}
