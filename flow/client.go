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
	// MaxNodes caps the number of nodes in one run started by this client.
	// Zero defers to the database setting flow.max_nodes, whose default is
	// [DefaultMaxNodes].
	MaxNodes int
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
	c := &Client{pool: pool, listener: newRunListener(pool)}
	if config != nil {
		c.config = *config
	}
	return c
}

func (c *Client) maxNodes() *int {
	if c.config.MaxNodes > 0 {
		return &c.config.MaxNodes
	}
	return nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}
