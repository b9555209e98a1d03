package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/migrations"
)

// Scratch creates a database for Run on the server databaseURL points at,
// named htdag_bench_ and 8 random hex digits, and applies River's and
// htdag's migrations to it: Run empties its tables, so it should not run in
// a database anyone uses. It returns the database's name, a pool of at most
// maxConns connections on it, and drop, which closes the pool and drops the
// database; call drop once done, whatever happened. The role must be
// allowed to create databases.
func Scratch(ctx context.Context, databaseURL string, maxConns int32) (name string, pool *pgxpool.Pool, drop func() error, err error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return "", nil, nil, err
	}
	admin := cfg.ConnConfig.Copy()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name = "htdag_bench_" + hex.EncodeToString(suffix[:])
	if err := adminExec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		return "", nil, nil, fmt.Errorf("creating scratch database %s: %w", name, err)
	}
	dropDatabase := func() error {
		// Its own deadline: ctx may have ended (an interrupted benchmark).
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("dropping scratch database %s: %w", name, err)
		}
		return nil
	}

	cfg.ConnConfig.Database = name
	cfg.MaxConns = maxConns
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		if _, err = migrations.Up(ctx, pool, nil); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		_ = dropDatabase()
		return "", nil, nil, err
	}
	return name, pool, func() error { pool.Close(); return dropDatabase() }, nil
}

// adminExec runs sql on a connection of its own to the database URL's
// database.
func adminExec(ctx context.Context, admin *pgx.ConnConfig, sql string) error {
	conn, err := pgx.ConnectConfig(ctx, admin.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
