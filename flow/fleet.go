package flow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
	"github.com/riverqueue/river"
)

// Fleet defaults. A worker whose process is killed loses its liveness lock at
// once; it is declared dead DefaultLostGrace after its last heartbeat (or
// after PostgreSQL started, if that is later), and the fleet's rescue, which
// runs every DefaultRescueInterval, sends its running nodes back to be
// worked: a node of a killed worker runs again after at most about
// DefaultHeartbeatInterval + DefaultLostGrace + DefaultRescueInterval. The
// members take turns at the rescue (and at the timers and schedules): each
// interval about two of them do it, whatever the fleet's size.
const (
	// DefaultHeartbeatInterval is how often a worker proves it is alive.
	DefaultHeartbeatInterval = 1 * time.Second
	// DefaultLostGrace is how long a worker's liveness lock may be free
	// before it is declared dead: long enough to reconnect after a
	// PostgreSQL restart.
	DefaultLostGrace = 3 * time.Second
	// DefaultRescueInterval is how often the fleet looks for dead workers
	// (and fires due timers): the members take turns, about two a tick.
	DefaultRescueInterval = 1 * time.Second
	// DefaultSweepInterval is how often the fleet's rescue also looks at every
	// running node of every dead worker (see flow.rescue_lost_nodes).
	DefaultSweepInterval = 30 * time.Second
)

// ExitCodeDeclaredDead is the exit status of a worker process that found it
// was declared dead (its nodes were handed to other workers): it exits at
// once, so that it works none of them twice. A supervisor restarts it as a
// new worker.
const ExitCodeDeclaredDead = 3

// FleetConfig configures a process's membership in the fleet. The zero value
// is usable.
type FleetConfig struct {
	// Host names the machine in flow.workers. Default: os.Hostname().
	Host string
	// Version is shown in flow.workers. Default: the main module's version
	// from the build information, or "(devel)".
	Version string
	// Queues and Kinds are what the worker serves, for flow.check's "no
	// live worker serves" problems. Default: read from the river.Config
	// given to JoinFleet (kinds by reading River's registered workers; when
	// that fails they are unknown, counted as every kind).
	Queues []string
	Kinds  []string
	// AnyKind records the worker as serving every kind (Kinds is ignored).
	AnyKind bool
	// Session is where the liveness lock is held: the process's one direct
	// connection, shared with River's LISTEN ([DriverOptions].Session).
	// JoinFleet checks that it reaches PostgreSQL directly and refuses it
	// otherwise ([ErrSessionNotDirect]); the caller closes it, after Leave.
	// Default: a session of the membership's own on LivenessConnConfig,
	// closed by Leave.
	Session *DirectSession
	// LivenessConnConfig is the connection the liveness lock is held on when
	// Session is nil; it must reach PostgreSQL directly (a transaction-mode
	// pooler would lose the session lock). Default: the pool's connection
	// config.
	LivenessConnConfig *pgx.ConnConfig
	// DirectCheckTimeout bounds JoinFleet's check that the session reaches
	// PostgreSQL directly. Default: [DefaultDirectCheckTimeout].
	DirectCheckTimeout time.Duration
	// HeartbeatInterval, LostGrace, RescueInterval, SweepInterval and
	// ScheduleInterval: see the Default constants of the same names.
	HeartbeatInterval time.Duration
	LostGrace         time.Duration
	RescueInterval    time.Duration
	SweepInterval     time.Duration
	ScheduleInterval  time.Duration
	// WakeAll turns off the thinning of wake-ups for this worker: it hears
	// every release of its queues on River's channel, as every worker did
	// before migration 0030, and while it is alive so does every other
	// worker of those queues. By default a worker whose River listens on
	// Session (DriverOptions.Session) is woken only by the releases that
	// choose it, on its own channel: enough workers to cover the released
	// jobs with their free slots, plus one (see docs/SCALING.md, "The
	// wake-up herd"). Without Session every release wakes every worker.
	// Default: false.
	WakeAll bool
	// OnDeclaredDead runs when this process finds it was declared dead.
	// Default: log and os.Exit(ExitCodeDeclaredDead).
	OnDeclaredDead func()
	// Logger receives the membership's events. Default: the river.Config's
	// Logger, else slog.Default().
	Logger *slog.Logger

	// quietLeave: a membership joined on the first job leaves when its
	// client stopped, maybe after the application stopped logging.
	quietLeave bool
	// freeSlots reports the process's free worker slots per queue, for
	// its heartbeat (nil: it does not say).
	freeSlots func() map[string]int
}

// Fleet is a worker process's membership in the fleet: its row of
// flow.worker, the liveness lock on a connection of its own, its heartbeat,
// and what every member does for the fleet: the rescue of other workers'
// lost nodes, and the firing of due schedule ticks (see [Schedule]). Join
// with [JoinFleet] before the River client starts; [Fleet.Leave] after it
// stopped.
type Fleet struct {
	pool     *pgxpool.Pool
	id       int64
	clientID string
	cfg      FleetConfig
	log      *slog.Logger

	session    *DirectSession // where the liveness lock is held
	ownSession bool           // made by JoinFleet, closed by Leave
	lockGen    uint64         // the session connection the lock was taken on; owned by the loop after joining
	cancel     context.CancelFunc
	done       chan struct{}
	dead       atomic.Bool
	leaving    atomic.Bool
	leaveOnce  sync.Once
	leaveErr   error

	schedulesDone chan struct{} // closed when runSchedules ended

	wake *wakeFilter // on the session River listens on; nil: every release wakes this worker

	duty dutyClock // when this member's turns at the fleet's duties are
	// onRescueTurn, for tests, is told of each rescue tick this member did.
	onRescueTurn atomic.Pointer[func(tick int64)]
}

// ID is the worker's id in flow.worker.
func (f *Fleet) ID() int64 { return f.id }

// ClientID is the River client id the worker registered with.
func (f *Fleet) ClientID() string { return f.clientID }

// ApplicationName is the application_name the worker's sessions carry in
// pg_stat_activity ("htdag worker N").
func (f *Fleet) ApplicationName() string { return fmt.Sprintf("htdag worker %d", f.id) }

// JoinFleet registers the process whose River client uses riverConfig as a
// worker, takes its liveness lock, and starts its heartbeat and its rescue of
// dead workers' nodes. Call it after river.NewClient and before the client
// starts. riverConfig.ID must be set ([RiverConfig] sets a unique one); the
// queues and kinds come from riverConfig unless cfg names them. cfg may be nil.
//
// A process that uses [RiverConfig] and never calls JoinFleet joins on its
// first job and never leaves: flow.workers then shows it dead, not stopped,
// once it has gone.
func JoinFleet(ctx context.Context, pool *pgxpool.Pool, riverConfig *river.Config, cfg *FleetConfig) (*Fleet, error) {
	if riverConfig == nil || riverConfig.ID == "" {
		return nil, errors.New("htdag: JoinFleet: river.Config.ID is empty; use flow.RiverConfig, or give the client a unique ID")
	}
	c := FleetConfig{}
	if cfg != nil {
		c = *cfg
	}
	if c.Queues == nil {
		c.Queues = slices.Sorted(maps.Keys(riverConfig.Queues))
	}
	switch {
	case c.AnyKind:
		c.Kinds = nil
	case c.Kinds == nil:
		c.Kinds = registeredKinds(riverConfig.Workers)
	}
	if c.Logger == nil {
		c.Logger = riverConfig.Logger
	}
	if m := middlewareOf(riverConfig); m != nil {
		queues := riverConfig.Queues
		c.freeSlots = func() map[string]int { return m.freeSlots(queues) }
	}
	f, err := joinFleet(ctx, pool, riverConfig.ID, c)
	if err != nil {
		return nil, err
	}
	if m := middlewareOf(riverConfig); m != nil {
		m.fleet.CompareAndSwap(nil, f)
	}
	return f, nil
}

func joinFleet(ctx context.Context, pool *pgxpool.Pool, clientID string, c FleetConfig) (*Fleet, error) {
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.Version == "" {
		c.Version = buildVersion()
	}
	c.HeartbeatInterval = cmpOr(c.HeartbeatInterval, DefaultHeartbeatInterval)
	c.LostGrace = cmpOr(c.LostGrace, DefaultLostGrace)
	c.RescueInterval = cmpOr(c.RescueInterval, DefaultRescueInterval)
	c.SweepInterval = cmpOr(c.SweepInterval, DefaultSweepInterval)
	c.DirectCheckTimeout = cmpOr(c.DirectCheckTimeout, DefaultDirectCheckTimeout)
	c.ScheduleInterval = cmpOr(c.ScheduleInterval, DefaultScheduleInterval)
	if c.LivenessConnConfig == nil {
		c.LivenessConnConfig = pool.Config().ConnConfig
	}
	f := &Fleet{pool: pool, clientID: clientID, cfg: c, log: c.Logger, done: make(chan struct{}), session: c.Session, schedulesDone: make(chan struct{})}
	f.duty.heartbeat = c.HeartbeatInterval
	if f.log == nil {
		f.log = slog.Default()
	}
	role := " session"
	if f.session == nil {
		f.session, f.ownSession, role = NewDirectSession(c.LivenessConnConfig), true, " liveness"
		f.session.appName = "htdag worker (registering)"
	}
	fail := func(err error) (*Fleet, error) {
		if f.ownSession {
			_ = f.session.Close(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("htdag: joining the fleet: %w", err)
	}
	// Before the lock: a lock taken through a transaction-mode pooler would
	// stay on a server connection that other clients are lent.
	if err := f.session.checkDirect(ctx, pool, c.DirectCheckTimeout); err != nil {
		return fail(err)
	}
	err := f.session.with(ctx, func(conn *pgx.Conn, gen uint64) error {
		f.lockGen = gen
		return conn.QueryRow(ctx, "SELECT flow.worker_register($1, $2, $3, $4, $5, $6)",
			clientID, c.Host, os.Getpid(), c.Version, c.Queues, c.Kinds).Scan(&f.id)
	})
	if err != nil {
		return fail(err)
	}
	_ = f.session.setApplicationName(ctx, f.ApplicationName()+role)
	if !f.ownSession && !c.WakeAll {
		f.wake = &wakeFilter{self: f.id}
		f.session.wake.Store(f.wake)
	}
	f.log.InfoContext(ctx, "htdag: joined the fleet", "worker_id", f.id, "client_id", clientID,
		"host", c.Host, "queues", c.Queues)

	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	go f.run(loopCtx)
	go f.runSchedules(loopCtx)
	return f, nil
}

// Leave records that the worker stopped (call it after the River client
// stopped and handed its work back), frees the liveness lock and stops the
// heartbeat, rescue and schedule firing. Calling it again does nothing.
func (f *Fleet) Leave(ctx context.Context) error {
	f.leaveOnce.Do(func() {
		f.leaving.Store(true)
		f.cancel()
		<-f.done
		<-f.schedulesDone
		if f.wake != nil {
			f.session.wake.CompareAndSwap(f.wake, nil)
		}
		if f.ownSession {
			defer f.session.Close(context.WithoutCancel(ctx))
		}
		if f.dead.Load() {
			return
		}
		// On the session: flow.worker_stop frees the lock it holds. A
		// session lost (PostgreSQL restarted) freed the lock already; the
		// worker is still marked stopped, from the session's next
		// connection, while PostgreSQL comes back (up to 10 s).
		var err error
		pause := 50 * time.Millisecond
		for deadline := time.Now().Add(10 * time.Second); ; {
			err = f.session.with(ctx, func(conn *pgx.Conn, _ uint64) error {
				_, err := conn.Exec(ctx, "SELECT flow.worker_stop($1)", f.id)
				return err
			})
			if err == nil || !isConnectionError(err) || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
		}
		if err != nil {
			f.leaveErr = fmt.Errorf("htdag: leaving the fleet: %w", err)
			return
		}
		if !f.cfg.quietLeave {
			f.log.InfoContext(ctx, "htdag: left the fleet", "worker_id", f.id)
		}
	})
	return f.leaveErr
}

// run is the heartbeat and rescue loop. Each rescue tick also fires due
// timers (run deadlines, wait nodes' timeouts: flow.fire_due_timers), so
// they fire within a second rather than River's scheduler's five.
func (f *Fleet) run(ctx context.Context) {
	defer close(f.done)
	defer func() {
		if f.ownSession && !f.leaving.Load() {
			// Stopped without Leave (declared dead): closing the
			// connection frees the lock.
			f.session.closeConn(context.Background())
		}
	}()
	heartbeat := time.NewTicker(f.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	// The rescue and the timers are a duty the members take turns at
	// (fleet_duty.go); a sweep is every sweepEvery-th tick.
	sweepEvery := max(1, int64(f.cfg.SweepInterval/f.cfg.RescueInterval))
	tick, at := f.duty.next(time.Now(), f.cfg.RescueInterval, 0)
	rescue := time.NewTimer(time.Until(at))
	defer rescue.Stop()
	lost := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			state, gen, err := f.heartbeat(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				if !lost {
					f.log.Log(ctx, f.connLevel(slog.LevelWarn), "htdag: liveness connection lost; reconnecting", "worker_id", f.id, "error", err)
					lost = true
				}
			case state == "alive":
				// Lost, or replaced behind our back (River's listener
				// reconnected the shared session first): the lock is on
				// the new connection now.
				if lost || gen != f.lockGen {
					f.log.Log(ctx, f.connLevel(slog.LevelInfo), "htdag: liveness connection back", "worker_id", f.id)
					lost = false
				}
				f.lockGen = gen
			case state == "locked elsewhere":
				// The old session has not ended yet; it still counts as us.
			default: // dead, stopped
				f.declaredDead(ctx, state)
				return
			}
		case <-rescue.C:
			if f.duty.mine(tick, time.Now()) {
				if !f.doRescue(ctx, tick%sweepEvery == 0) {
					return
				}
				if fn := f.onRescueTurn.Load(); fn != nil {
					(*fn)(tick)
				}
			}
			tick, at = f.duty.next(time.Now(), f.cfg.RescueInterval, tick)
			rescue.Reset(time.Until(at))
		}
	}
}

// doRescue runs the rescue of lost nodes, with a sweep of every dead
// worker's nodes when sweep, and fires due timers. It returns false when
// the pool is closed.
func (f *Fleet) doRescue(ctx context.Context, sweep bool) bool {
	if err := f.rescue(ctx, sweep); err != nil {
		if errors.Is(err, puddle.ErrClosedPool) {
			// The process is shutting its pool down without Leave (a
			// member that joined on its own): end here.
			return false
		}
		if ctx.Err() == nil {
			f.log.Log(ctx, f.connLevel(slog.LevelWarn), "htdag: rescuing lost nodes failed", "worker_id", f.id, "error", err)
		}
	}
	if _, err := f.pool.Exec(ctx, "SELECT flow.fire_due_timers()"); err != nil && ctx.Err() == nil &&
		!errors.Is(err, puddle.ErrClosedPool) {
		f.log.Log(ctx, f.connLevel(slog.LevelWarn), "htdag: firing due timers failed", "worker_id", f.id, "error", err)
	}
	return true
}

// heartbeatSQL records the heartbeat with the worker's free slots, reads
// the worker's place among the live members (the workers seen in the last
// $4 that have not ended) for the duty turns, and, for a worker that thins
// its wake-ups, reads the roster: those workers with their queues and free
// slots.
const heartbeatSQL = `
SELECT flow.worker_heartbeat($1, $2),
       (SELECT ARRAY[count(*) FILTER (WHERE w.id < $1), count(*)]
          FROM flow.worker w
         WHERE w.stopped_at IS NULL AND w.dead_at IS NULL AND w.last_seen_at > now() - $4::interval),
       CASE WHEN $3 THEN (
           SELECT coalesce(json_agg(json_build_object('id', w.id, 'queues', w.queues, 'free', w.free_slots) ORDER BY w.id), '[]')
             FROM flow.worker w
            WHERE w.stopped_at IS NULL AND w.dead_at IS NULL AND w.last_seen_at > now() - $4::interval) END`

// heartbeat runs flow.worker_heartbeat on the session, which connects again
// first if its connection was lost; gen is the session connection it ran on.
// It also renews the roster of a worker that thins its wake-ups.
func (f *Fleet) heartbeat(ctx context.Context) (state string, gen uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, max(2*f.cfg.HeartbeatInterval, 2*time.Second))
	defer cancel()
	var (
		roster []byte
		place  []int
	)
	err = f.session.with(ctx, func(conn *pgx.Conn, g uint64) error {
		gen = g
		// Free slots only while this connection hears the worker's own
		// wake-up channel: flow.notify_runnable then wakes it there
		// rather than everyone.
		var free map[string]int
		if f.cfg.freeSlots != nil && f.wake != nil && f.wake.listenGen.Load() == g {
			free = f.cfg.freeSlots()
		}
		// Seen within two and a half heartbeats: a killed worker leaves
		// the roster within about three seconds.
		return conn.QueryRow(ctx, heartbeatSQL, f.id, free, f.wake != nil, 5*f.cfg.HeartbeatInterval/2).Scan(&state, &place, &roster)
	})
	if err == nil && state == "alive" && len(place) == 2 {
		f.duty.roster.Store(&dutyRoster{slot: place[0], members: place[1], at: time.Now()})
	}
	if err == nil && state == "alive" && f.wake != nil {
		f.wake.roster.Store(parseWakeRoster(roster))
	}
	return state, gen, err
}

// parseWakeRoster turns the heartbeat's roster into each queue's members.
func parseWakeRoster(raw []byte) *wakeRoster {
	var rows []struct {
		ID     int64          `json:"id"`
		Queues []string       `json:"queues"`
		Free   map[string]int `json:"free"`
	}
	roster := wakeRoster{}
	if json.Unmarshal(raw, &rows) != nil {
		return nil // every release wakes this worker until the next heartbeat
	}
	for _, r := range rows { // sorted by id
		for _, q := range r.Queues {
			free, ok := r.Free[q]
			if !ok {
				free = -1
			}
			roster[q] = append(roster[q], wakeMember{id: r.ID, free: free})
		}
	}
	return &roster
}

func (f *Fleet) declaredDead(ctx context.Context, state string) {
	f.dead.Store(true)
	f.log.ErrorContext(ctx, "htdag: this worker was declared "+state+" by the fleet (its liveness lock was gone for longer than the grace); its running nodes were handed to other workers",
		"worker_id", f.id, "client_id", f.clientID)
	if f.cfg.OnDeclaredDead != nil {
		f.cfg.OnDeclaredDead()
		return
	}
	os.Exit(ExitCodeDeclaredDead)
}

// connLevel is the level of connection trouble: debug for a membership that
// joined on its own (it leaves when its client stops, and its database may be
// gone first, as in tests), level otherwise.
func (f *Fleet) connLevel(level slog.Level) slog.Level {
	if f.cfg.quietLeave || f.leaving.Load() {
		return slog.LevelDebug
	}
	return level
}

// DeclaredDead reports whether this worker found it was declared dead.
func (f *Fleet) DeclaredDead() bool { return f.dead.Load() }

// rescue runs flow.rescue_lost_nodes once.
func (f *Fleet) rescue(ctx context.Context, sweep bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := f.pool.Query(ctx, "SELECT worker_id, job_id, action FROM flow.rescue_lost_nodes($1, $2)", f.cfg.LostGrace, sweep)
	if err != nil {
		return err
	}
	var (
		workerID *int64
		jobID    int64
		action   string
	)
	_, err = pgx.ForEachRow(rows, []any{&workerID, &jobID, &action}, func() error {
		// NULL: a River client that died before it registered.
		dead := any("unregistered")
		if workerID != nil {
			dead = *workerID
		}
		f.log.WarnContext(ctx, "htdag: rescued a node whose worker died", "dead_worker_id", dead, "job_id", jobID,
			"now", action, "worker_id", f.id)
		return nil
	})
	return err
}

// registeredKinds lists the job kinds workers has workers for. River keeps
// them in an unexported map; reading it by reflection is best effort (a test
// pins it to the River version in go.mod): nil means unknown.
func registeredKinds(workers *river.Workers) []string {
	if workers == nil {
		return nil
	}
	m := reflect.ValueOf(workers).Elem().FieldByName("workersMap")
	if !m.IsValid() || m.Kind() != reflect.Map || m.Type().Key().Kind() != reflect.String {
		return nil
	}
	kinds := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		kinds = append(kinds, k.String())
	}
	slices.Sort(kinds)
	return kinds
}

// newClientID returns a River client id for this process: "htdag_", the
// host (cut to 24 characters), the pid and 6 random hex digits. River uses
// it in river_job.attempted_by; flow.worker maps it back to the process.
func newClientID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, host)
	if len(host) > 24 {
		host = host[:24]
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("htdag_%s_%d_%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func buildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// isConnectionError reports whether err means the connection (or the server
// behind it) went away, so that the statement may be tried again on a new
// connection: a network error, a terminated session (57P01 admin shutdown,
// 57P02/57P03), or a connection exception (class 08).
func isConnectionError(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || strings.HasPrefix(pgErr.Code, "08")
	}
	var netErr net.Error
	return errors.As(err, &netErr) || pgconn.SafeToRetry(err) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}
