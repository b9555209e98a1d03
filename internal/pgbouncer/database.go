package pgbouncer

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/internal/migrate"
	"github.com/htdag/htdag/internal/pgcluster"
	"github.com/htdag/htdag/migrations"
)

// DatabaseName is the database [NewDatabase] creates.
const DatabaseName = "htdag"

// Database is a database holding River's and htdag's migrations on a
// private cluster, reached directly and through a PgBouncer in front of the
// cluster: the setup of a fleet whose job traffic goes through a pooler.
type Database struct {
	Cluster *pgcluster.Cluster
	Bouncer *Bouncer
}

// DatabaseOptions adjust [NewDatabase]. The zero value is a cluster with the
// server's defaults, a transaction-mode pooler, and the engine's migrations.
type DatabaseOptions struct {
	Cluster pgcluster.Options
	Bouncer Options
	// Lines are applications' migration lines to apply too.
	Lines []migrate.Line
}

// NewDatabase starts a cluster and a pooler in front of it, and creates and
// migrates the database; all of it is removed when tb ends. It skips the
// test when PostgreSQL's or PgBouncer's programs are missing.
func NewDatabase(tb testing.TB, o DatabaseOptions) *Database {
	tb.Helper()
	if _, err := Program(); err != nil {
		tb.Skipf("pgbouncer: %v", err)
	}
	d := &Database{Cluster: pgcluster.Start(tb, o.Cluster)}
	d.Bouncer = Start(tb, "127.0.0.1", d.Cluster.Port, o.Bouncer)
	if err := d.migrate(o.Lines); err != nil {
		tb.Fatalf("pgbouncer: %v", err)
	}
	return d
}

func (d *Database) migrate(lines []migrate.Line) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.Cluster.CreateDatabase(ctx, DatabaseName); err != nil {
		return err
	}
	// Directly: migrations hold a session-level advisory lock.
	pool, err := pgxpool.New(ctx, d.DirectURL())
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = migrations.Up(ctx, pool, nil, lines...)
	return err
}

// DirectURL reaches the database without the pooler.
func (d *Database) DirectURL() string { return d.Cluster.URL(DatabaseName) }

// PooledURL reaches the database through the pooler.
func (d *Database) PooledURL() string { return d.Bouncer.URL(DatabaseName) }

// PooledConfig is a pool config through the pooler, in the query mode a
// transaction-mode pooler needs (no named prepared statements: see
// [PooledQueryExecMode]), with maxConns connections.
func (d *Database) PooledConfig(maxConns int32) *pgxpool.Config {
	cfg, err := pgxpool.ParseConfig(d.PooledURL())
	if err != nil {
		panic(err) // our own URL
	}
	cfg.ConnConfig.DefaultQueryExecMode = PooledQueryExecMode
	cfg.MaxConns = maxConns
	return cfg
}

// DirectConnConfig is a connection config that reaches the database directly.
func (d *Database) DirectConnConfig() *pgx.ConnConfig {
	cfg, err := pgx.ParseConfig(d.DirectURL())
	if err != nil {
		panic(err) // our own URL
	}
	return cfg
}

// PooledQueryExecMode is the pgx query mode of pools that go through the
// pooler: a statement's description is cached, but it is executed through
// the unnamed statement, which PgBouncer 1.18 in transaction mode keeps for
// the one round trip that needs it (named prepared statements would be
// found missing, or already existing, on whichever server connection the
// next transaction gets).
const PooledQueryExecMode = pgx.QueryExecModeCacheDescribe
