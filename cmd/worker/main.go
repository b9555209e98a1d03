// Command worker is htdag's single binary: it migrates the database, works
// flow nodes (River jobs), starts runs from JSON specs, waits for them and
// shows their state.
//
//	worker migrate
//	worker run [--queue NAME=MAXWORKERS]...
//	worker start FILE|-
//	worker wait RUN_ID [--timeout D]
//	worker status RUN_ID [--depth N|all|auto] [--max-nodes N] [--json]
//	worker ingest DIR [--codebase ID] [--wait]
//	worker schedule add|list|pause|resume|rm
//	worker health [URL]
//	worker --version
//
// Exit codes: 0 success; 1 failure (an invalid spec, a run that failed or was
// cancelled, any other error); `worker wait` exits 2 on a timeout or an error,
// so scripts can tell "the run failed" from "we do not know".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	// Schedules' time zones load even where the host (or the distroless
	// image) has no zoneinfo.
	_ "time/tzdata"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// defaultDatabaseURL is used when neither --database-url nor DATABASE_URL is
// given: a local server with trust authentication, as in development.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// app holds what every subcommand shares: the global flags, the loggers made
// from them, and the output streams (swappable so that commands write where
// they are told, not straight to os.Stdout).
type app struct {
	databaseURL       string
	directDatabaseURL string
	logFormat         string
	logLevel          string
	maxConns          int32

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// log is the process logger; slog wraps it for libraries that take a
	// *slog.Logger (River, migrations), so all output shares one format.
	log  zerolog.Logger
	slog *slog.Logger
}

// exitError carries a specific exit code out of a command. Commands return
// it instead of calling os.Exit so that deferred cleanup (pools, listeners)
// still runs. A nil err means "exit with code, print nothing more".
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func main() {
	// The first SIGINT/SIGTERM cancels ctx: `run` then shuts down gracefully,
	// other commands stop waiting. `run` handles a second signal itself.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the command line args and returns the process exit code.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "worker:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "worker:", err)
	return 1
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "worker",
		Short: "htdag: a Postgres-native workflow engine",
		Long: `worker is htdag's single binary. Runs are DAGs whose nodes are River jobs;
all state lives in PostgreSQL, so any number of workers can share a database.`,
		// Errors are printed once, by execute, with the right exit code;
		// usage is printed only for flag and argument mistakes (see below).
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLogging()
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(cmd, err)
	})

	dbDefault := os.Getenv("DATABASE_URL")
	if dbDefault == "" {
		dbDefault = defaultDatabaseURL
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.databaseURL, "database-url", dbDefault, "PostgreSQL URL; $DATABASE_URL when set")
	pf.StringVar(&a.directDatabaseURL, "direct-database-url", os.Getenv("DIRECT_DATABASE_URL"),
		"URL that reaches PostgreSQL directly, when --database-url goes through a transaction-mode pooler (PgBouncer): "+
			"run's LISTEN and liveness lock, migrate, wait and ingest use it; $DIRECT_DATABASE_URL when set (default: --database-url)")
	pf.StringVar(&a.logFormat, "log-format", "json", "log format on stderr: json or console")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	pf.Int32Var(&a.maxConns, "max-conns", 20, "maximum connections in the worker's pool")
	// Show the URL flag's default without leaking a password from the env.
	root.PersistentFlags().Lookup("database-url").DefValue = redactURL(dbDefault)
	if d := pf.Lookup("direct-database-url"); d.DefValue != "" {
		d.DefValue = redactURL(d.DefValue)
	}

	root.AddCommand(
		a.migrateCommand(),
		a.runCommand(),
		a.startCommand(),
		a.waitCommand(),
		a.statusCommand(),
		a.runsCommand(),
		a.cancelCommand(),
		a.retryCommand(),
		a.signalCommand(),
		a.doctorCommand(),
		a.workersCommand(),
		a.benchCommand(),
		a.ingestCommand(),
		a.healthCommand(),
		a.scheduleCommand(),
	)
	return root
}

// usageError reports a command-line mistake with the command's usage, so the
// user sees what was expected. `wait` maps it to exit code 2 itself.
func usageError(cmd *cobra.Command, err error) error {
	return fmt.Errorf("%w\n\n%s", err, strings.TrimRight(cmd.UsageString(), "\n"))
}

// setupLogging builds the zerolog logger from the flags. JSON is the default
// because workers run under process supervisors that collect structured logs;
// console is for people.
func (a *app) setupLogging() error {
	level, err := zerolog.ParseLevel(strings.ToLower(a.logLevel))
	if err != nil || level == zerolog.NoLevel {
		return fmt.Errorf("--log-level %q: want trace, debug, info, warn, error or disabled", a.logLevel)
	}
	var w io.Writer
	switch a.logFormat {
	case "json":
		w = a.stderr
	case "console":
		// Colours only on a terminal: escape codes garble log files.
		w = zerolog.ConsoleWriter{Out: a.stderr, TimeFormat: "15:04:05.000", NoColor: !render.IsTerminal(a.stderr)}
	default:
		return fmt.Errorf("--log-format %q: want json or console", a.logFormat)
	}
	// Millisecond timestamps: node steps take milliseconds, seconds would
	// make the order of events unreadable.
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	a.log = zerolog.New(w).Level(level).With().Timestamp().Logger()
	a.slog = slog.New(zerolog.NewSlogHandler(a.log))
	return nil
}

// migrateHint adds what to do when the database lacks River's or htdag's
// tables or functions: the usual cause is a database nobody migrated yet.
func migrateHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000" || pgErr.Code == "42883") {
		return fmt.Errorf("%w (is the database migrated? run `worker migrate`)", err)
	}
	return err
}

// pooled reports whether --database-url may go through a transaction-mode
// pooler: the user named a direct URL besides it.
func (a *app) pooled() bool {
	return a.directDatabaseURL != "" && a.directDatabaseURL != a.databaseURL
}

// directURL is the URL that reaches PostgreSQL directly.
func (a *app) directURL() string {
	if a.directDatabaseURL != "" {
		return a.directDatabaseURL
	}
	return a.databaseURL
}

// directConnConfig parses directURL, for a connection of its own.
func (a *app) directConnConfig() (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(a.directURL())
	if err != nil {
		return nil, fmt.Errorf("--direct-database-url: %w", err)
	}
	return cfg, nil
}

// openPool connects to --database-url and checks the connection at once, so
// a wrong URL fails here with a clear message rather than deep inside River.
// When that URL may go through a transaction-mode pooler (see pooled), the
// pool uses no named prepared statements (pgx's cache_describe mode), which
// the pooler would lose between transactions, unless the URL chooses a mode
// itself (default_query_exec_mode).
func (a *app) openPool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(a.databaseURL)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	if a.pooled() && !strings.Contains(a.databaseURL, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	return a.connectPool(ctx, cfg, a.databaseURL)
}

// openDirectPool is openPool on the direct URL, for commands that need a
// session: migrate (its lock), wait and ingest (their LISTEN).
func (a *app) openDirectPool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(a.directURL())
	if err != nil {
		return nil, fmt.Errorf("--direct-database-url: %w", err)
	}
	return a.connectPool(ctx, cfg, a.directURL())
}

func (a *app) connectPool(ctx context.Context, cfg *pgxpool.Config, rawURL string) (*pgxpool.Pool, error) {
	if a.maxConns < 1 {
		return nil, fmt.Errorf("--max-conns must be at least 1, got %d", a.maxConns)
	}
	cfg.MaxConns = a.maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", redactURL(rawURL), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to %s: %w", redactURL(rawURL), err)
	}
	return pool, nil
}

// openClient opens a pool (see openPool) and a flow client on it, whose
// waits LISTEN on the direct URL, and the function that closes them.
func (a *app) openClient(ctx context.Context) (*flow.Client, func(), error) {
	var config *flow.Config
	if a.pooled() {
		directCfg, err := a.directConnConfig()
		if err != nil {
			return nil, nil, err
		}
		config = &flow.Config{ListenConnConfig: directCfg}
	}
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, nil, err
	}
	return flow.NewClient(pool, config), pool.Close, nil
}

// redactURL hides the password of a database URL, for logs, help and error
// messages. A keyword/value DSN is summarised instead.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Redacted()
	}
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		return "(unparseable database URL)"
	}
	c := cfg.ConnConfig
	return fmt.Sprintf("user=%s host=%s port=%d dbname=%s", c.User, c.Host, c.Port, c.Database)
}
