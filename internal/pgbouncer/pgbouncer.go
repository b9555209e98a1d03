// Package pgbouncer runs a private PgBouncer (Debian's pgbouncer package) in
// front of a PostgreSQL server, for tests and the fleet harness that must
// prove htdag works through a transaction-mode pooler. It listens on a free
// loopback port, trusts its clients (as the private clusters of
// internal/pgcluster do), routes every database name to the server, and is
// stopped and removed when the test ends.
//
// PgBouncer refuses to run as root: as root, it runs as the "postgres" OS
// user, as the private clusters do. It is killed if the process that
// started it dies first. scripts/ensure-pgbouncer.sh installs it.
package pgbouncer

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/htdag/htdag/internal/pgcluster"
)

// Defaults of [Options].
const (
	// DefaultPoolMode is PgBouncer's pool_mode: a server connection is lent
	// to a client for one transaction.
	DefaultPoolMode = "transaction"
	// DefaultPoolSize is PgBouncer's default_pool_size: server connections
	// per database and user.
	DefaultPoolSize = 20
	// DefaultMaxClientConn is PgBouncer's max_client_conn.
	DefaultMaxClientConn = 500
)

// Options adjust the pooler. The zero value is a transaction-mode pooler
// with [DefaultPoolSize] server connections per database.
type Options struct {
	// PoolMode is "transaction", "session" or "statement". Default:
	// [DefaultPoolMode].
	PoolMode string
	// PoolSize is the number of server connections per database and user.
	// Default: [DefaultPoolSize].
	PoolSize int
	// MaxClientConn bounds client connections. Default:
	// [DefaultMaxClientConn].
	MaxClientConn int
	// Settings are extra lines of pgbouncer.ini's [pgbouncer] section.
	Settings []string
}

// Bouncer is a running PgBouncer.
type Bouncer struct {
	Dir  string // its configuration, log and socket
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, once done is closed
	logf string
}

// ErrNotInstalled says PgBouncer's program is missing.
var ErrNotInstalled = errors.New("PgBouncer is not installed (no pgbouncer program on PATH or in /usr/sbin); " +
	"scripts/ensure-pgbouncer.sh installs Debian's package")

// Program finds the pgbouncer program: on PATH, else /usr/sbin/pgbouncer
// (Debian's place, not on every user's PATH).
func Program() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", ErrNotInstalled
}

// Start starts a pooler in front of the server at host:port, stopped and
// removed when tb ends. It skips the test, saying why, when PgBouncer is not
// installed.
func Start(tb testing.TB, host string, port int, o Options) *Bouncer {
	tb.Helper()
	b, err := New(host, port, o)
	if errors.Is(err, ErrNotInstalled) {
		tb.Skipf("pgbouncer: %v", err)
	}
	if err != nil {
		tb.Fatalf("pgbouncer: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Remove(); err != nil {
			tb.Errorf("pgbouncer: %v", err)
		}
	})
	return b
}

// New starts a pooler in front of the server at host:port; Remove stops it
// and deletes its directory.
func New(host string, port int, o Options) (*Bouncer, error) {
	prog, err := Program()
	if err != nil {
		return nil, err
	}
	if o.PoolMode == "" {
		o.PoolMode = DefaultPoolMode
	}
	if o.PoolSize == 0 {
		o.PoolSize = DefaultPoolSize
	}
	if o.MaxClientConn == 0 {
		o.MaxClientConn = DefaultMaxClientConn
	}
	owner, err := pgcluster.ServerUser()
	if err != nil {
		return nil, err
	}
	b := &Bouncer{done: make(chan struct{})}
	if b.Dir, err = os.MkdirTemp("", "htdag-pgbouncer-"); err != nil {
		return nil, err
	}
	if b.Port, err = pgcluster.FreePort(); err != nil {
		return nil, err
	}
	b.logf = filepath.Join(b.Dir, "pgbouncer.log")
	ini := []string{
		"[databases]",
		fmt.Sprintf("* = host=%s port=%d", host, port),
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		fmt.Sprintf("listen_port = %d", b.Port),
		fmt.Sprintf("unix_socket_dir = %s", b.Dir),
		"auth_type = trust",
		fmt.Sprintf("auth_file = %s", filepath.Join(b.Dir, "userlist.txt")),
		"admin_users = postgres",
		fmt.Sprintf("pool_mode = %s", o.PoolMode),
		fmt.Sprintf("default_pool_size = %d", o.PoolSize),
		fmt.Sprintf("max_client_conn = %d", o.MaxClientConn),
		fmt.Sprintf("logfile = %s", b.logf),
		"log_connections = 0",
		"log_disconnections = 0",
	}
	ini = append(ini, o.Settings...)
	files := map[string]string{
		"pgbouncer.ini": strings.Join(ini, "\n") + "\n",
		"userlist.txt":  `"postgres" ""` + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(b.Dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	if err := chownAll(owner, b.Dir, files); err != nil {
		return nil, err
	}

	b.cmd = exec.Command(prog, filepath.Join(b.Dir, "pgbouncer.ini"))
	b.cmd.Dir = "/"
	var out bytes.Buffer
	b.cmd.Stdout, b.cmd.Stderr = &out, &out
	// Its own process group, so that a Ctrl-C meant for the test does not
	// stop it under the test's feet; and killed should the test process die
	// before Remove.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		b.cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting pgbouncer: %w", err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	if err := b.waitListening(10 * time.Second); err != nil {
		_ = b.Remove()
		return nil, fmt.Errorf("%w\n%s\n%s", err, out.String(), b.Log())
	}
	return b, nil
}

// waitListening waits until the pooler accepts TCP connections, or exits.
func (b *Bouncer) waitListening(timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port), time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-b.done:
			return fmt.Errorf("pgbouncer exited at start: %v", b.err)
		case <-deadline.C:
			return fmt.Errorf("pgbouncer not listening on port %d after %s", b.Port, timeout)
		case <-tick.C:
		}
	}
}

// URL is a connection URL for database db through the pooler ("postgres"
// when empty).
func (b *Bouncer) URL(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.Port, db)
}

// Remove stops the pooler and deletes its directory.
func (b *Bouncer) Remove() error {
	if b.cmd != nil && b.cmd.Process != nil {
		// SIGINT: PgBouncer's "safe shutdown"; then SIGKILL if it lingers.
		_ = b.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	}
	return os.RemoveAll(b.Dir)
}

// Log returns the pooler's log so far.
func (b *Bouncer) Log() string {
	data, _ := os.ReadFile(b.logf)
	return string(data)
}

// AdminURL is the URL of the pooler's admin console (database "pgbouncer",
// for SHOW POOLS and the like), which speaks only the simple protocol.
func (b *Bouncer) AdminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/pgbouncer?sslmode=disable&default_query_exec_mode=simple_protocol", b.Port)
}

func chownAll(owner *user.User, dir string, files map[string]string) error {
	if owner == nil {
		return nil
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	for name := range files {
		if err := os.Chown(filepath.Join(dir, name), uid, gid); err != nil {
			return err
		}
	}
	return nil
}
