package flow

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// SpecError reports a workflow spec that flow.start rejected (SQLSTATE 22023)
// or that the Go builder could not build. Nothing was written.
type SpecError struct {
	// Problem names what is wrong, e.g. `node "b" depends on unknown node "x"`.
	Problem string
}

func (e *SpecError) Error() string { return "invalid workflow spec: " + e.Problem }

const specErrorPrefix = "invalid workflow spec: "

// NotAllowedError reports a call that the caller's role may not make
// (SQLSTATE 42501): a kind not granted to the run's owner (flow.kind_grant),
// or starting a run as a role it is not a member of. Nothing was written.
type NotAllowedError struct {
	// Reason says what was refused, e.g. `role "team_a" may not start jobs
	// of kind "ingest.stat"`.
	Reason string
}

func (e *NotAllowedError) Error() string { return "htdag: " + e.Reason }

// asSpecError turns flow.start's validation error into a *SpecError, its
// refusal into a *NotAllowedError, and leaves every other error as it is.
func asSpecError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "22023" && strings.HasPrefix(pgErr.Message, specErrorPrefix):
		return &SpecError{Problem: strings.TrimPrefix(pgErr.Message, specErrorPrefix)}
	case errors.As(err, &pgErr) && pgErr.Code == "42501" && strings.HasPrefix(pgErr.Message, "htdag: "):
		return &NotAllowedError{Reason: strings.TrimPrefix(pgErr.Message, "htdag: ")}
	case errors.As(err, &pgErr) && pgErr.Where == "" &&
		(pgErr.Code == "22P02" || pgErr.Code == "22P05" || pgErr.Code == "22003" || pgErr.Code == "22021"):
		// The spec's cast to jsonb failed, before flow.start saw it (an
		// error inside a function says where).
		return &SpecError{Problem: "the spec is not JSON that PostgreSQL's jsonb can hold: " + pgErr.Message}
	}
	return err
}
