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

// asSpecError turns flow.start's validation error into a *SpecError and
// leaves every other error as it is.
func asSpecError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "22023" && strings.HasPrefix(pgErr.Message, specErrorPrefix) {
		return &SpecError{Problem: strings.TrimPrefix(pgErr.Message, specErrorPrefix)}
	}
	return err
}
