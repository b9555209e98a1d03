// Package pgcluster runs a private PostgreSQL cluster for tests that must do
// to a server what no test may do to a shared one: restart it under load,
// limit its connections, put a pooler in front of it. The cluster lives in a
// temporary directory, listens on a free loopback port (and a socket in its
// own directory), trusts local connections, and is stopped and removed when
// the test ends.
//
// PostgreSQL refuses to run as root: as root, the server's programs run as
// the "postgres" OS user, as scripts/ensure-postgres.sh does.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running private cluster.
type Cluster struct {
	Dir    string // data directory
	Port   int
	bindir string
	owner  *user.User // nil: the current user
	logf   string
}

// Options adjust the cluster. The zero value is a cluster with the server's
// defaults, fsync off (a test cluster need not survive a power cut).
type Options struct {
	// Settings are extra postgresql.conf lines, such as "max_connections = 100".
	Settings []string
}

// BinDir finds PostgreSQL's server programs: the newest
// /usr/lib/postgresql/*/bin (Debian's layout), else the directory of an
// initdb on PATH.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) < versionOf(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("pgcluster: PostgreSQL's server programs (initdb, pg_ctl) are not installed")
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// Start creates and starts a cluster that is stopped and removed when tb
// ends. It skips the test when PostgreSQL's programs are missing.
func Start(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	c, err := New(o)
	if errors.Is(err, errNoPrograms) {
		tb.Skipf("pgcluster: %v", err)
	}
	if err != nil {
		tb.Fatalf("pgcluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Remove(); err != nil {
			tb.Errorf("pgcluster: %v", err)
		}
	})
	return c
}

var errNoPrograms = errors.New("PostgreSQL's server programs (initdb, pg_ctl) are not installed")

// New creates and starts a cluster; Remove stops and deletes it.
func New(o Options) (*Cluster, error) {
	bindir, err := BinDir()
	if err != nil {
		return nil, errNoPrograms
	}
	c := &Cluster{bindir: bindir}
	if c.owner, err = ServerUser(); err != nil {
		return nil, err
	}
	c.Dir, err = os.MkdirTemp("", "htdag-pgcluster-")
	if err != nil {
		return nil, err
	}
	if err := c.chown(c.Dir); err != nil {
		return nil, err
	}
	if c.Port, err = FreePort(); err != nil {
		return nil, err
	}
	data := filepath.Join(c.Dir, "data")
	if out, err := c.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", c.Port),
		fmt.Sprintf("unix_socket_directories = '%s'", c.Dir),
		"fsync = off",
		"synchronous_commit = on",
		"full_page_writes = off",
		"log_min_messages = warning",
		"log_line_prefix = '%m [%p] %q%a '",
	}
	conf = append(conf, o.Settings...)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString("\n# htdag pgcluster\n" + strings.Join(conf, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	c.logf = filepath.Join(c.Dir, "server.log")
	if err := c.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

// URL is a connection URL for database db ("postgres" when empty).
func (c *Cluster) URL(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Start starts the stopped cluster; it returns once the server accepts
// connections (pg_ctl -w waits for that).
func (c *Cluster) Start() error {
	if out, err := c.run("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-l", c.logf, "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, c.Log())
	}
	return nil
}

// Stop stops the cluster; mode is "fast", "smart" or "immediate" (a crash:
// no checkpoint, sessions cut as by a power loss of the server process).
func (c *Cluster) Stop(mode string) error {
	if out, err := c.run("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", mode, "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w\n%s", mode, err, out)
	}
	return nil
}

// Restart stops the cluster with mode and starts it again.
func (c *Cluster) Restart(mode string) error {
	if err := c.Stop(mode); err != nil {
		return err
	}
	return c.Start()
}

// Remove stops the cluster (if running) and deletes its directory.
func (c *Cluster) Remove() error {
	_, _ = c.run("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "immediate", "-w", "-t", "60", "stop")
	return os.RemoveAll(c.Dir)
}

// PostmasterPID is the server's main process, from postmaster.pid (for
// reading the CPU time of the server's processes in /proc).
func (c *Cluster) PostmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// Log returns the server's log so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(c.logf)
	return string(b)
}

// CreateDatabase creates database name.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL(""))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// run runs one of the server's programs as the cluster's owner.
func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bindir, prog), args...)
	cmd.Dir = "/"
	if c.owner != nil {
		cmd = exec.Command("runuser", append([]string{"-u", c.owner.Username, "--", filepath.Join(c.bindir, prog)}, args...)...)
		cmd.Dir = "/"
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func (c *Cluster) chown(path string) error {
	if c.owner == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.owner.Uid)
	gid, _ := strconv.Atoi(c.owner.Gid)
	return os.Chown(path, uid, gid)
}

// ServerUser is the OS user a server program (PostgreSQL, PgBouncer) started
// by a test runs as: nil, the current user, unless that is root, which both
// refuse; then "postgres".
func ServerUser() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root, and there is no postgres user to run the server as")
	}
	return u, nil
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
