package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/internal/render"
)

// scheduleCommand groups the schedule commands: add, list, pause, resume, rm.
func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Manage schedules: specs started on a cron expression or an interval, once per tick by the fleet",
		Long: `A schedule starts a workflow spec on every tick of a cron expression (read in a
time zone) or of an interval, as a run owned by the schedule's owner. Every
` + "`worker run`" + ` fires due ticks, each exactly once however many run.`,
	}
	cmd.AddCommand(a.scheduleAddCommand(), a.scheduleListCommand(),
		a.scheduleActionCommand("pause", "Pause a schedule: no tick starts a run until it is resumed",
			func(ctx context.Context, c *flow.Client, name string) (bool, error) {
				return c.PauseSchedule(ctx, name)
			},
			"paused schedule %q", "schedule %q was already paused"),
		a.scheduleActionCommand("resume", "Resume a paused schedule from its next tick after now (ticks of the pause start nothing)",
			func(ctx context.Context, c *flow.Client, name string) (bool, error) {
				return c.ResumeSchedule(ctx, name)
			},
			"resumed schedule %q", "schedule %q was not paused"),
		a.scheduleActionCommand("rm", "Remove a schedule and its tick history (the runs it started go on)",
			func(ctx context.Context, c *flow.Client, name string) (bool, error) {
				return true, c.DeleteSchedule(ctx, name)
			},
			"removed schedule %q", ""),
	)
	return cmd
}

// openScheduleClient opens a flow client acting for owner ("" for the
// session's role).
func (a *app) openScheduleClient(ctx context.Context, owner string) (*flow.Client, func(), error) {
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, nil, err
	}
	return flow.NewClient(pool, &flow.Config{Owner: owner}), pool.Close, nil
}

// scheduleError maps the schedule API's refusals to exit status 1 with their
// message, and hints at migrating for a database without schedules.
func scheduleError(err error) error {
	var (
		schedErr   *flow.ScheduleError
		specErr    *flow.SpecError
		notAllowed *flow.NotAllowedError
	)
	if errors.As(err, &schedErr) || errors.As(err, &specErr) || errors.As(err, &notAllowed) ||
		errors.Is(err, flow.ErrScheduleNotFound) || errors.Is(err, flow.ErrScheduleExists) {
		return &exitError{code: 1, err: err}
	}
	return migrateHint(err)
}

func (a *app) scheduleAddCommand() *cobra.Command {
	var (
		s      flow.Schedule
		owner  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME FILE|- (--cron EXPR [--time-zone ZONE] | --every DURATION)",
		Short: "Create a schedule that starts the spec in FILE (or stdin) on every tick",
		Example: `  worker schedule add nightly-report report.json --cron "0 3 * * *" --time-zone Europe/Paris
  worker schedule add poll poll.json --every 30s --overlap allow --catch-up skip`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := a.readSpec(args[1])
			if err != nil {
				return err
			}
			s.Name, s.Spec = args[0], flow.JSONSpec(spec)
			ctx := cmd.Context()
			client, closeClient, err := a.openScheduleClient(ctx, owner)
			if err != nil {
				return err
			}
			defer closeClient()
			info, err := client.CreateSchedule(ctx, s)
			if err != nil {
				var (
					specErr  *flow.SpecError
					schedErr *flow.ScheduleError
				)
				switch {
				case errors.As(err, &specErr):
					err = fmt.Errorf("%s: %w", specName(args[1]), err)
				case errors.As(err, &schedErr):
					err = fmt.Errorf("schedule %q: %w", s.Name, err)
				case errors.Is(err, flow.ErrScheduleExists):
					err = fmt.Errorf("%w (--replace replaces it)", err)
				}
				return scheduleError(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return render.JSON(out, render.NewScheduleDoc(info))
			}
			next := "paused"
			if info.NextAt != nil && !info.Paused {
				next = "next tick " + render.ScheduleTime(*info.NextAt, time.Now())
			}
			_, err = fmt.Fprintf(out, "schedule %q (id %d, owner %s): %s; %s\n", info.Name, info.ID, info.Owner,
				render.ScheduleTiming(info), next)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Cron, "cron", "", `cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly, @daily...`)
	f.StringVar(&s.TimeZone, "time-zone", "", "IANA time zone the cron expression is read in (default UTC)")
	f.DurationVar(&s.Every, "every", 0, "tick at this fixed interval instead (at least 1s), from one interval after now")
	f.StringVar((*string)(&s.CatchUp), "catch-up", "once", "ticks missed while no worker ran: once (one run on recovery) or skip (a tick over a minute late starts nothing)")
	f.StringVar((*string)(&s.Overlap), "overlap", "skip", "a tick while the previous run is unfinished: skip (start nothing) or allow")
	f.BoolVar(&s.Paused, "paused", false, "create it paused")
	f.BoolVar(&s.Replace, "replace", false, "replace the owner's schedule of that name, keeping its history")
	f.StringVar(&owner, "owner", "", "role that owns the schedule and its runs (default: the session's role)")
	f.BoolVar(&asJSON, "json", false, "print the schedule as JSON")
	return cmd
}

func (a *app) scheduleListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the schedules you may see (your roles'; an admin's, every one): timing, policies, next and last tick",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			client, closeClient, err := a.openClient(ctx)
			if err != nil {
				return err
			}
			defer closeClient()
			schedules, err := client.ListSchedules(ctx)
			if err != nil {
				return migrateHint(err)
			}
			if asJSON {
				return render.SchedulesJSON(cmd.OutOrStdout(), schedules)
			}
			return render.SchedulesText(cmd.OutOrStdout(), schedules, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the schedules as a JSON array")
	return cmd
}

// scheduleActionCommand builds `worker schedule pause|resume|rm NAME`:
// act reports whether it changed anything; did and noop are the lines
// printed (with the name).
func (a *app) scheduleActionCommand(use, short string, act func(context.Context, *flow.Client, string) (bool, error),
	did, noop string) *cobra.Command {
	var owner string
	cmd := &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, closeClient, err := a.openScheduleClient(ctx, owner)
			if err != nil {
				return err
			}
			defer closeClient()
			done, err := act(ctx, client, args[0])
			if err != nil {
				return scheduleError(err)
			}
			line := did
			if !done {
				line = noop
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), line+"\n", args[0])
			return err
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "role that owns the schedule (default: the session's role)")
	return cmd
}
