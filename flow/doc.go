// Package flow is htdag's engine library: it starts DAG runs whose nodes are
// River jobs, completes nodes quickly, and waits for runs to finish.
//
// All workflow state lives in PostgreSQL. A run is a row of flow.run; each
// node is one public.river_job row plus a flow.node row holding its edges. A
// trigger on river_job (installed by package migrations) releases children
// when their parents complete, in the same transaction as the completion, and
// notifies River so idle workers fetch at once. Nothing here keeps run state
// in memory, so any number of worker processes can share a database.
//
// The pieces:
//
//   - [Workflow] builds a spec from River JobArgs; [Spec] is the same spec as
//     JSON (the format `SELECT flow.start(spec)` takes).
//   - [Client.Start] and [Client.StartTx] start a run (through flow.start, so
//     the SQL and Go doors share one set of rules).
//   - [Middleware] completes flow nodes through htdag's grouped completer,
//     which commits a lone completion at once and groups completions that
//     arrive together into one statement. Install it in river.Config.
//   - Inside a node's Work: [SetOutput] records its output, [InTx] adds
//     writes that commit together with the completion, [Inputs] reads the
//     run input and the parents' outputs in one query.
//   - [Client.Wait] and [Client.WaitMany] wait for runs to finish; every
//     waiter of a Client shares one LISTEN connection (pgxlisten), held only
//     while someone waits.
//   - [JoinFleet] registers a worker process and holds its liveness lock;
//     with a [DirectSession] shared by River's LISTEN ([NewDriver]) and that
//     lock, a process holds one direct connection, and its pool may go
//     through a transaction-mode pooler such as PgBouncer.
//   - [Workflow.AddWait] adds a wait node, which waits (no worker, no
//     polling) until [Client.Signal] completes it with a payload, or its
//     timeout fails it or completes it with a default.
//   - [Workflow.Timeout] ([Spec].TimeoutMS) gives a run a deadline: a
//     flow.run_deadline job scheduled at it, worked by [DeadlineWorker]
//     (which [RiverConfig] installs), cancels the run's tree, saying why
//     ([Run].CancelReason).
//   - [Client.CreateSchedule] starts a spec on a cron expression or an
//     interval ([Schedule]); every [Fleet] member fires due ticks, each
//     exactly once.
package flow
