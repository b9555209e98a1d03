package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Start starts a run in its own transaction and returns its id. spec is a
// *[Workflow], a *[Spec] or a [JSONSpec]; every one goes through the SQL
// function flow.start, so the Go and SQL doors share one set of rules. An
// invalid spec is a *[SpecError] and writes nothing. With a [Spec].Key of a
// run that has not finished, Start returns that run's id and starts nothing.
func (c *Client) Start(ctx context.Context, spec Specifier) (int64, error) {
	return c.start(ctx, c.pool, spec)
}

// StartTx is [Client.Start] inside tx: the run exists (and its roots become
// runnable) only if tx commits. After an error, roll tx back.
func (c *Client) StartTx(ctx context.Context, tx pgx.Tx, spec Specifier) (int64, error) {
	return c.start(ctx, tx, spec)
}

// StartMany starts several runs in one transaction and one round trip, and
// returns their ids in the order of specs. Starting runs in groups costs far
// less per run than one transaction each (every start commits, and its
// NOTIFY holds PostgreSQL's notify lock through that commit). If any spec is
// invalid, none is started and the *[SpecError] says which (by position,
// from 1: "spec #2: ...").
func (c *Client) StartMany(ctx context.Context, specs ...Specifier) ([]int64, error) {
	raws, err := encodeSpecs(specs)
	if err != nil {
		return nil, err
	}
	return c.startMany(ctx, c.pool, raws)
}

// StartManyTx is [Client.StartMany] inside tx. After an error, roll tx back.
func (c *Client) StartManyTx(ctx context.Context, tx pgx.Tx, specs ...Specifier) ([]int64, error) {
	raws, err := encodeSpecs(specs)
	if err != nil {
		return nil, err
	}
	return c.startMany(ctx, tx, raws)
}

func encodeSpecs(specs []Specifier) ([]string, error) {
	raws := make([]string, len(specs))
	for i, s := range specs {
		raw, err := encodeSpec(s)
		var specErr *SpecError
		switch {
		case errors.As(err, &specErr):
			return nil, &SpecError{Problem: fmt.Sprintf("spec #%d: %s", i+1, specErr.Problem)}
		case err != nil:
			return nil, fmt.Errorf("spec #%d: %w", i+1, err)
		}
		raws[i] = string(raw)
	}
	return raws, nil
}

// startManySQL starts the specs in order in one statement (so in one
// transaction even on the pool).
const startManySQL = `
SELECT flow.start(s.spec, $2, $3)
  FROM unnest($1::jsonb[]) WITH ORDINALITY AS s(spec, i)
 ORDER BY s.i`

func (c *Client) startMany(ctx context.Context, q querier, raws []string) ([]int64, error) {
	rows, err := q.Query(ctx, startManySQL, raws, c.maxNodes(), c.owner())
	if err != nil {
		return nil, asSpecError(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		err = asSpecError(err)
		var specErr *SpecError
		if errors.As(err, &specErr) {
			// Say which spec: ask the checker, outside the failed statement.
			var pos int
			if qerr := c.pool.QueryRow(ctx, `
				SELECT s.i FROM unnest($1::jsonb[]) WITH ORDINALITY AS s(spec, i)
				 WHERE flow.spec_problem(s.spec, $2) IS NOT NULL ORDER BY s.i LIMIT 1`,
				raws, c.maxNodes()).Scan(&pos); qerr == nil {
				specErr.Problem = fmt.Sprintf("spec #%d: %s", pos, specErr.Problem)
			}
		}
		return nil, err
	}
	return ids, nil
}

func (c *Client) start(ctx context.Context, q querier, s Specifier) (int64, error) {
	raw, err := encodeSpec(s)
	if err != nil {
		return 0, err
	}
	var runID int64
	if err := q.QueryRow(ctx, "SELECT flow.start($1::jsonb, $2, $3)", string(raw), c.maxNodes(), c.owner()).Scan(&runID); err != nil {
		return 0, asSpecError(err)
	}
	return runID, nil
}

// encodeSpec turns a Specifier into the JSON flow.start takes. A JSONSpec
// goes as it is, unparsed, so that flow.start judges exactly what was given.
func encodeSpec(s Specifier) ([]byte, error) {
	if s == nil {
		return nil, &SpecError{Problem: "the spec is nil"}
	}
	if js, ok := s.(JSONSpec); ok {
		if !json.Valid(js) {
			return nil, &SpecError{Problem: "the spec is not valid JSON"}
		}
		if !utf8.Valid(js) {
			return nil, &SpecError{Problem: "the spec is not valid UTF-8"}
		}
		return js, nil
	}
	spec, err := s.Spec()
	if err != nil {
		return nil, err
	}
	if spec == nil {
		return nil, &SpecError{Problem: "the spec is nil"}
	}
	if spec.Nodes == nil {
		// A workflow without nodes encodes "nodes" as null; send [] so that
		// flow.start names the real problem ("the workflow has no nodes").
		cp := *spec
		cp.Nodes = []NodeSpec{}
		spec = &cp
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding spec: %w", err)
	}
	return raw, nil
}
