package flow

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultMaxNodes is the largest run flow.start accepts unless configured
// otherwise (Config.MaxNodes, or the database setting flow.max_nodes).
const DefaultMaxNodes = 100_000

// Config configures a [Client].
type Config struct {
	// MaxNodes lowers the number of nodes one run started by this client may
	// have; it cannot raise the limit an admin set for the run's owner
	// (flow.limits, default [DefaultMaxNodes]). Zero: the owner's limit.
	MaxNodes int
	// Owner is the role that owns the runs this client starts: it may see,
	// cancel and retry them, and its kind grants and limits apply. The
	// client's database role must be a member of it (or an admin). Empty:
	// the role the session acts as (SET ROLE's, else the login role).
	Owner string
	// ListenConnConfig is where [Client.Wait]'s LISTEN connects, a
	// connection of its own: set it when the pool goes through a
	// transaction-mode pooler, which cannot keep a LISTEN, to a config that
	// reaches PostgreSQL directly. Default: nil, a connection taken from the
	// pool. A LISTEN that is found not to hear (a pooler, and no
	// ListenConnConfig) is not trusted: waits then read their runs once a
	// second instead, so they still end.
	ListenConnConfig *pgx.ConnConfig
}

// Client starts, reads, cancels, retries and waits for runs. It holds no run
// state, and while no one waits it holds no connection either (see
// [Client.Wait]); it is safe for concurrent use. Make one per pool and share
// it: its waiters share one LISTEN connection.
type Client struct {
	pool     *pgxpool.Pool
	config   Config
	listener *runListener
}

// NewClient returns a client on pool. config may be nil (every field at its
// default).
func NewClient(pool *pgxpool.Pool, config *Config) *Client {
	c := &Client{pool: pool}
	if config != nil {
		c.config = *config
	}
	c.listener = newRunListener(pool, c.config.ListenConnConfig)
	return c
}

func (c *Client) maxNodes() *int {
	if c.config.MaxNodes > 0 {
		return &c.config.MaxNodes
	}
	return nil
}

func (c *Client) owner() *string {
	if c.config.Owner != "" {
		return &c.config.Owner
	}
	return nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}
