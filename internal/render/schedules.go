package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/htdag/htdag/flow"
)

// ScheduleDoc is one schedule in `worker schedule` --json output.
type ScheduleDoc struct {
	ID           int64            `json:"id"`
	Name         string           `json:"name"`
	Owner        string           `json:"owner"`
	Cron         string           `json:"cron,omitempty"`
	TimeZone     string           `json:"time_zone,omitempty"`
	Every        string           `json:"every,omitempty"` // a Go duration: "30s", "1h0m0s"
	CatchUp      flow.CatchUp     `json:"catch_up"`
	Overlap      flow.Overlap     `json:"overlap"`
	Paused       bool             `json:"paused"`
	NextAt       *time.Time       `json:"next_at"`
	LastTickAt   *time.Time       `json:"last_tick_at"`
	LastOutcome  flow.TickOutcome `json:"last_outcome,omitempty"`
	LastRunID    *int64           `json:"last_run_id"`
	LastRunState *flow.RunState   `json:"last_run_state"`
	LastError    string           `json:"last_error,omitempty"`
	Spec         json.RawMessage  `json:"spec"`
	CreatedAt    time.Time        `json:"created_at"`
	CreatedBy    string           `json:"created_by"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

// NewScheduleDoc is s as a ScheduleDoc.
func NewScheduleDoc(s *flow.ScheduleInfo) ScheduleDoc {
	d := ScheduleDoc{ID: s.ID, Name: s.Name, Owner: s.Owner, Cron: s.Cron, CatchUp: s.CatchUp, Overlap: s.Overlap,
		Paused: s.Paused, NextAt: s.NextAt, LastTickAt: s.LastTickAt, LastOutcome: s.LastOutcome, LastRunID: s.LastRunID,
		LastRunState: s.LastRunState, LastError: s.LastError, Spec: s.Spec, CreatedAt: s.CreatedAt, CreatedBy: s.CreatedBy,
		UpdatedAt: s.UpdatedAt}
	if s.Every != 0 {
		d.Every = s.Every.String()
	} else {
		d.TimeZone = s.TimeZone
	}
	return d
}

// SchedulesJSON prints `worker schedule list --json`: an array of
// ScheduleDoc.
func SchedulesJSON(w io.Writer, schedules []*flow.ScheduleInfo) error {
	out := make([]ScheduleDoc, 0, len(schedules))
	for _, s := range schedules {
		out = append(out, NewScheduleDoc(s))
	}
	return JSON(w, out)
}

// SchedulesText prints `worker schedule list`: a table of schedules, then
// the errors of those that have one, or "no schedules".
func SchedulesText(w io.Writer, schedules []*flow.ScheduleInfo, now time.Time) error {
	if len(schedules) == 0 {
		_, err := fmt.Fprintln(w, "no schedules")
		return err
	}
	rows := [][]string{{"NAME", "OWNER", "WHEN", "CATCH-UP", "OVERLAP", "STATE", "NEXT", "LAST TICK", "LAST RUN"}}
	var errs []string
	for _, s := range schedules {
		state := "active"
		if s.Paused {
			state = "paused"
		}
		next := "-"
		switch {
		case s.Paused:
		case s.NextAt != nil:
			next = ScheduleTime(*s.NextAt, now)
		default:
			next = "(the fleet computes it)"
		}
		last := "-"
		if s.LastTickAt != nil {
			last = ScheduleTime(*s.LastTickAt, now) + " " + string(s.LastOutcome)
		}
		run := "-"
		if s.LastRunID != nil {
			run = strconv.FormatInt(*s.LastRunID, 10)
			if s.LastRunState != nil {
				run += " " + string(*s.LastRunState)
			}
		}
		rows = append(rows, []string{cell(s.Name, 0), cell(s.Owner, 0), cell(ScheduleTiming(s), 60), string(s.CatchUp),
			string(s.Overlap), state, next, last, run})
		if s.LastError != "" {
			errs = append(errs, fmt.Sprintf("%s (%s): %s", cell(s.Name, 0), cell(s.Owner, 0), cell(s.LastError, maxLineRunes)))
		}
	}
	if err := writeTable(w, rows, alignLeft); err != nil {
		return err
	}
	for _, e := range errs {
		if _, err := fmt.Fprintln(w, e); err != nil {
			return err
		}
	}
	return nil
}

// ScheduleTiming says when a schedule ticks: `cron "0 3 * * *" Europe/Paris`
// or "every 30s".
func ScheduleTiming(s *flow.ScheduleInfo) string {
	if s.Every != 0 {
		return "every " + s.Every.String()
	}
	return fmt.Sprintf("cron %q %s", s.Cron, s.TimeZone)
}

// ScheduleTime prints a tick's time in UTC, to the millisecond when it has
// any, and how far it is from now ("in 5s", "3m0s ago").
func ScheduleTime(t, now time.Time) string {
	layout := "2006-01-02 15:04:05"
	if t.Nanosecond() != 0 {
		layout += ".000"
	}
	d := t.Sub(now).Round(time.Second)
	rel := "now"
	switch {
	case d > 0:
		rel = "in " + d.String()
	case d < 0:
		rel = (-d).String() + " ago"
	}
	return t.UTC().Format(layout) + " UTC (" + rel + ")"
}
