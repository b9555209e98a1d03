package flow

import (
	"context"
	"slices"
)

// RunFinishedChannel is the channel on which the database announces every
// finished run, with payload {"run_id": N, "state": "completed"|"failed"|"cancelled"}.
const RunFinishedChannel = "flow_run_finished"

// Wait blocks until the run has finished (completed, failed or cancelled),
// then returns it, output included. A run that had finished before the call
// returns at once. It returns ctx's error when ctx ends first, an error
// wrapping [ErrRunNotFound] for an unknown run, and a read's error (the run
// is read on the client's pool) as soon as one fails.
//
// Every Wait and [Client.WaitMany] of a Client shares one LISTEN on
// [RunFinishedChannel] through pgxlisten, on a connection taken from the
// pool (and no longer counted by it), or opened on [Config].ListenConnConfig
// when set (a pool through a transaction-mode pooler cannot keep a LISTEN;
// runs are still read on the pool): however many goroutines wait, the
// Client holds at most one such connection. It is opened by the first
// waiter and closed when the last one returns, so an idle Client holds
// none, and the Client needs no Close. When the connection drops, the
// listener connects again (every 0.5 s until it can) and then reads every
// run still waited for, so a finish whose notification was lost with the
// connection is still seen.
func (c *Client) Wait(ctx context.Context, runID int64) (*Run, error) {
	runs, err := c.WaitMany(ctx, []int64{runID})
	if err != nil {
		return nil, err
	}
	return runs[0], nil
}

// WaitMany blocks until every run of runIDs has finished, then returns them
// in the order of runIDs (an id given twice gets the same *Run twice). It is
// [Client.Wait] for many runs at once: one registration, and runs read in
// batches, instead of a call and a read per run. It returns an error as soon
// as one run is unknown or a read fails, and ctx's error when ctx ends
// first. A run that ends failed or cancelled is returned like a completed
// one: check each run's State.
func (c *Client) WaitMany(ctx context.Context, runIDs []int64) ([]*Run, error) {
	if len(runIDs) == 0 {
		return []*Run{}, nil
	}
	ids := slices.Clone(runIDs)
	slices.Sort(ids)
	w := c.listener.add(slices.Compact(ids))
	defer c.listener.remove(w)

	select {
	case <-w.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	out := make([]*Run, len(runIDs))
	for i, id := range runIDs {
		out[i] = w.runs[id]
	}
	return out, nil
}
