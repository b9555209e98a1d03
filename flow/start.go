package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Start starts a run in its own transaction and returns its id.
func (c *Client) Start(ctx context.Context, spec Specifier) (int64, error) {
	return c.start(ctx, c.pool, spec)
}

// StartTx starts a run inside tx: it exists (and its roots become runnable)
// only if tx commits.
func (c *Client) StartTx(ctx context.Context, tx pgx.Tx, spec Specifier) (int64, error) {
	return c.start(ctx, tx, spec)
}

// StartJSON starts a run from a spec given as JSON, exactly as
// `SELECT flow.start(spec)` would.
func (c *Client) StartJSON(ctx context.Context, spec []byte) (int64, error) {
	return c.startRaw(ctx, c.pool, spec)
}

// StartJSONTx is StartJSON inside tx.
func (c *Client) StartJSONTx(ctx context.Context, tx pgx.Tx, spec []byte) (int64, error) {
	return c.startRaw(ctx, tx, spec)
}

// StartMany starts several runs in one transaction and one round trip, and
// returns their ids in order. Starting runs in groups costs far less per run
// than one transaction each (every start commits, and its NOTIFY holds
// PostgreSQL's notify lock through that commit). If any spec is invalid,
// none is started and the *SpecError says which (by position, from 1).
func (c *Client) StartMany(ctx context.Context, specs ...Specifier) ([]int64, error) {
	raws, err := encodeSpecs(specs)
	if err != nil {
		return nil, err
	}
	return c.startManyRaw(ctx, c.pool, raws)
}

// StartManyTx is StartMany inside tx.
func (c *Client) StartManyTx(ctx context.Context, tx pgx.Tx, specs ...Specifier) ([]int64, error) {
	raws, err := encodeSpecs(specs)
	if err != nil {
		return nil, err
	}
	return c.startManyRaw(ctx, tx, raws)
}

// StartManyJSON is StartMany for specs given as JSON.
func (c *Client) StartManyJSON(ctx context.Context, specs [][]byte) ([]int64, error) {
	return c.startManyRaw(ctx, c.pool, specs)
}

func encodeSpecs(specs []Specifier) ([][]byte, error) {
	raws := make([][]byte, len(specs))
	for i, s := range specs {
		raw, err := encodeSpec(s)
		var specErr *SpecError
		switch {
		case errors.As(err, &specErr):
			return nil, &SpecError{Problem: fmt.Sprintf("spec #%d: %s", i+1, specErr.Problem)}
		case err != nil:
			return nil, fmt.Errorf("spec #%d: %w", i+1, err)
		}
		raws[i] = raw
	}
	return raws, nil
}

// startManySQL starts the specs in order in one statement (so in one
// transaction even on the pool).
const startManySQL = `
SELECT flow.start(s.spec, $2)
  FROM unnest($1::jsonb[]) WITH ORDINALITY AS s(spec, i)
 ORDER BY s.i`

func (c *Client) startManyRaw(ctx context.Context, q querier, raws [][]byte) ([]int64, error) {
	texts := make([]string, len(raws))
	for i, raw := range raws {
		if !json.Valid(raw) {
			return nil, &SpecError{Problem: fmt.Sprintf("spec #%d: the spec is not valid JSON", i+1)}
		}
		texts[i] = string(raw)
	}
	rows, err := q.Query(ctx, startManySQL, texts, c.maxNodes())
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
				texts, c.maxNodes()).Scan(&pos); qerr == nil {
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
	return c.startRaw(ctx, q, raw)
}

// encodeSpec turns a Specifier into the JSON flow.start takes.
func encodeSpec(s Specifier) ([]byte, error) {
	if s == nil {
		return nil, &SpecError{Problem: "the spec is nil"}
	}
	spec, err := s.Spec()
	if err != nil {
		return nil, err
	}
	if spec != nil && spec.Nodes == nil {
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

func (c *Client) startRaw(ctx context.Context, q querier, raw []byte) (int64, error) {
	if !json.Valid(raw) {
		return 0, &SpecError{Problem: "the spec is not valid JSON"}
	}
	var runID int64
	if err := q.QueryRow(ctx, "SELECT flow.start($1::jsonb, $2)", string(raw), c.maxNodes()).Scan(&runID); err != nil {
		return 0, asSpecError(err)
	}
	return runID, nil
}
