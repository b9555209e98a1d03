package flow

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
)

// Router spreads runs over several htdag databases, each with its own fleet
// of workers, when one PostgreSQL primary is not enough. Runs are
// independent (a run, its nodes and its child runs live in one database
// from start to finish), so a key that the application already has (a
// tenant, a repository, the run's idempotency key) picks the database of
// each start, and nothing crosses databases afterwards.
//
// The key's database is chosen by jump consistent hashing (Lamping and
// Veach): the same key always goes to the same database for a given number
// of them, and adding a database moves about 1/n of the keys, all to the new
// one. A run's database is fixed at its start: keep the [RunRef] a start
// returns (its Shard and RunID) rather than hash the key again after the
// databases changed. A spec's idempotency key holds across the Router only
// if the routing key determines it (route by the idempotency key itself, or
// by something it contains).
type Router struct {
	clients []*Client
}

// RunRef names a run of a Router: the index of its database (its Client in
// [NewRouter]'s list) and its id there.
type RunRef struct {
	// Shard is the index of the run's database in NewRouter's clients.
	Shard int `json:"shard"`
	// RunID is the run's id in that database.
	RunID int64 `json:"run_id"`
}

// NewRouter returns a router over clients, one per database, in a fixed
// order: a key's database is an index into this list, so append new
// databases at the end and never reorder or remove one that still holds
// runs.
func NewRouter(clients ...*Client) (*Router, error) {
	if len(clients) == 0 {
		return nil, errors.New("htdag: NewRouter: no clients; give one per database")
	}
	for i, c := range clients {
		if c == nil {
			return nil, fmt.Errorf("htdag: NewRouter: client %d is nil", i)
		}
	}
	return &Router{clients: clients}, nil
}

// Shard returns the index of the database that key's runs go to.
func (r *Router) Shard(key string) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return jumpHash(h.Sum64(), len(r.clients))
}

// Client returns the client of database shard (see [Router.Shard]).
func (r *Router) Client(shard int) *Client {
	return r.clients[shard]
}

// Start starts spec in key's database.
func (r *Router) Start(ctx context.Context, key string, spec Specifier) (RunRef, error) {
	shard := r.Shard(key)
	id, err := r.clients[shard].Start(ctx, spec)
	if err != nil {
		return RunRef{}, err
	}
	return RunRef{Shard: shard, RunID: id}, nil
}

// Wait waits for the run ref names (see [Client.Wait]).
func (r *Router) Wait(ctx context.Context, ref RunRef) (*Run, error) {
	if ref.Shard < 0 || ref.Shard >= len(r.clients) {
		return nil, fmt.Errorf("htdag: run %d: shard %d is not one of the router's %d databases", ref.RunID, ref.Shard, len(r.clients))
	}
	return r.clients[ref.Shard].Wait(ctx, ref.RunID)
}

// jumpHash is Lamping and Veach's jump consistent hash: a bucket in [0, n)
// for key, moving only the keys that go to a new bucket when n grows.
func jumpHash(key uint64, n int) int {
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
