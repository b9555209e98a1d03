// Command soak runs the full soak (make soak): a fleet of workers killed with
// -9 at random and PostgreSQL restarted under load for three minutes, then
// the checks. It prints the report and exits 1 if a guarantee broke or the
// recovery figures miss their targets: a killed worker's node runs again
// within 5 s (p90) and 15 s (max), and every run finishes within 30 s of the
// last fault.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/htdag/htdag/internal/soak"
)

func main() {
	var o soak.Options
	flag.DurationVar(&o.Duration, "duration", 3*time.Minute, "how long faults are injected")
	flag.IntVar(&o.Workers, "workers", 4, "worker processes")
	flag.DurationVar(&o.KillEvery, "kill-every", 1300*time.Millisecond, "mean time between two kill -9s")
	flag.Float64Var(&o.Scale, "scale", 1, "size of each wave of runs")
	flag.StringVar(&o.Dir, "dir", "", "keep the worker binary and logs here (default: a temporary directory)")
	flag.Parse()
	o.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := soak.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	fmt.Print(r)
	failed := len(r.Violations) > 0
	for _, t := range []struct {
		what       string
		got, limit time.Duration
	}{
		{"p90 recovery", r.Percentile(90), 5 * time.Second},
		{"max recovery", r.Percentile(100), 15 * time.Second},
		{"last run finished after the last fault", r.FinishedAfterLastFault, 30 * time.Second},
	} {
		if t.got > t.limit {
			fmt.Printf("TARGET MISSED: %s %s > %s\n", t.what, t.got.Round(time.Millisecond), t.limit)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
	fmt.Println("soak passed")
}
