package flow_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// ProbeArgs is a node that reports each time it is worked (kind "probe").
type ProbeArgs struct{}

func (ProbeArgs) Kind() string { return "probe" }

type ProbeWorker struct {
	river.WorkerDefaults[ProbeArgs]
	probed chan struct{}
}

func (w *ProbeWorker) Work(context.Context, *river.Job[ProbeArgs]) error {
	select {
	case w.probed <- struct{}{}:
	default:
	}
	return nil
}

// Schedules start a spec on a cron expression, read in a time zone, or at an
// interval. Any fleet member fires their ticks, each once however many run:
// a process that works nodes joins the fleet before its River client starts.
func ExampleClient_CreateSchedule() {
	ctx := context.Background()
	pool := examplePool()
	defer pool.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &BuildWorker{})
	probes := &ProbeWorker{probed: make(chan struct{}, 1)}
	river.AddWorker(workers, probes)
	config := flowtest.RiverConfig(pool, workers) // flow.RiverConfig(pool, workers) in an application
	riverClient, err := river.NewClient(riverpgxv5.New(pool), config)
	if err != nil {
		log.Fatal(err)
	}
	fleet, err := flow.JoinFleet(ctx, pool, config, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := riverClient.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := riverClient.Stop(ctx); err != nil {
			log.Fatal(err)
		}
		if err := fleet.Leave(ctx); err != nil {
			log.Fatal(err)
		}
	}()

	client := flow.NewClient(pool, nil)
	nightly, err := client.CreateSchedule(ctx, flow.Schedule{
		Name:     "nightly-release",
		Cron:     "30 2 * * *",
		TimeZone: "Europe/Paris",
		Spec:     releaseWorkflow("main"),
		CatchUp:  flow.CatchUpSkip, // a release more than a minute late waits for the next night
	})
	if err != nil {
		log.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	fmt.Println(nightly.Name, "next at", nightly.NextAt.In(paris).Format("15:04"), "Paris time")

	w := flow.New("")
	w.Add("probe", ProbeArgs{})
	if _, err := client.CreateSchedule(ctx, flow.Schedule{Name: "probe", Every: time.Second, Spec: w}); err != nil {
		log.Fatal(err)
	}
	// Its first tick, a second from now, starts a run named after it.
	select {
	case <-probes.probed:
	case <-time.After(10 * time.Second):
		log.Fatal("no probe")
	}
	probe, err := client.GetSchedule(ctx, "probe")
	if err != nil {
		log.Fatal(err)
	}
	run, err := client.Wait(ctx, *probe.LastRunID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Name, run.State)
	if _, err := client.PauseSchedule(ctx, "probe"); err != nil {
		log.Fatal(err)
	}
	// Output:
	// nightly-release next at 02:30 Paris time
	// probe completed
}
