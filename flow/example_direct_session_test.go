package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/htdag/htdag/flow"
)

// A worker process of a fleet whose job traffic goes through a
// transaction-mode pooler (PgBouncer): its pool, on the pooler's URL, uses
// no named prepared statements; River's LISTEN and the liveness lock share
// one DirectSession on a URL that reaches PostgreSQL directly; waits LISTEN
// there too. Its connections: the pool's MaxConns through the pooler, plus
// one direct.
func ExampleNewDirectSession() {
	ctx := context.Background()
	db := examplePool() // stands for both URLs here: the pooler's and the direct one
	defer db.Close()

	poolConfig := db.Config().Copy() // pgxpool.ParseConfig(pooledURL) in an application
	poolConfig.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	poolConfig.MaxConns = 3
	pool, err := pgxpool.NewWithConfig(ctx, poolConfig)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	directConfig := db.Config().ConnConfig // pgx.ParseConfig(directURL) in an application

	session := flow.NewDirectSession(directConfig)
	defer session.Close(ctx)
	workers := river.NewWorkers()
	river.AddWorker(workers, &BuildWorker{})
	config := flow.RiverConfig(pool, workers)
	riverClient, err := river.NewClient(flow.NewDriver(pool, &flow.DriverOptions{Session: session}), config)
	if err != nil {
		log.Fatal(err)
	}
	// JoinFleet checks that the session reaches PostgreSQL directly.
	fleet, err := flow.JoinFleet(ctx, pool, config, &flow.FleetConfig{Session: session})
	if err != nil {
		log.Fatal(err)
	}
	if err := riverClient.Start(ctx); err != nil {
		log.Fatal(err)
	}

	client := flow.NewClient(pool, &flow.Config{ListenConnConfig: directConfig})
	runID, err := client.Start(ctx, releaseWorkflow("4f2a9c1"))
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, runID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State)

	if err := riverClient.Stop(ctx); err != nil {
		log.Fatal(err)
	}
	if err := fleet.Leave(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// completed
}
