// Package flowhttp is htdag's operations surface as one http.Handler: health
// and readiness probes, Prometheus metrics, River UI, and pages that draw a
// run's DAG. `worker run --http-addr` serves it; a program of your own mounts
// it on any server:
//
//	srv, err := flowhttp.New(flowhttp.Options{Pool: pool, River: client, RiverConfig: config})
//	...
//	go srv.Start(ctx)            // River UI's caches, the run-finished listener
//	http.ListenAndServe(addr, srv)
//
// Paths (all GET):
//
//   - /healthz: the process is up and the database reachable.
//   - /readyz: also the River client started and the worker is a live member
//     of the fleet (flow.JoinFleet, not declared dead).
//   - /metrics: Prometheus text; see [Metrics].
//   - /riverui/: River UI, when a River client is given. Flow jobs carry the
//     tags flow_run:N, flow_node:ID and (child runs) flow_tree:N.
//   - /runs/: recent top runs, filtered by state and name; /runs/{id}: the
//     run's DAG, with its state, durations and errors, child runs expandable,
//     updated every second while it runs; /runs/{id}.json: its data.
//
// Every asset is embedded: the pages work without network access.
package flowhttp
