package flow

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// WorkerState is a fleet member's state in flow.workers.
type WorkerState string

// Worker states. A worker is alive while it holds its liveness lock; lost
// when it does not (it will be declared dead once the grace is over, unless
// it reconnects); dead once declared so (its running nodes were handed on);
// stopped when it left gracefully.
const (
	WorkerStateAlive   WorkerState = "alive"
	WorkerStateLost    WorkerState = "lost"
	WorkerStateDead    WorkerState = "dead"
	WorkerStateStopped WorkerState = "stopped"
)

// WorkerInfo is one row of flow.workers: a worker process of the fleet.
type WorkerInfo struct {
	ID         int64       `json:"id"`
	ClientID   string      `json:"client_id"`
	Host       string      `json:"host"`
	PID        int         `json:"pid"`
	Version    string      `json:"version"`
	State      WorkerState `json:"state"`
	Queues     []string    `json:"queues"`
	Kinds      []string    `json:"kinds"` // nil: unknown (counted as every kind)
	Running    int         `json:"running"`
	StartedAt  time.Time   `json:"started_at"`
	LastSeenAt time.Time   `json:"last_seen_at"`
	EndedAt    *time.Time  `json:"ended_at,omitempty"`
	// FreeSlots is the worker's free slots per queue at its last
	// heartbeat, which releases use to choose whom to wake; nil when it
	// does not say (--wake-all, no direct session, not listening on its own
	// channel yet, an older binary): every release of its queues then
	// wakes the whole queue.
	FreeSlots map[string]int `json:"free_slots,omitempty"`
}

// Workers lists the fleet (flow.workers): every worker registered in the last
// day, newest first; with aliveOnly, only those alive.
func (c *Client) Workers(ctx context.Context, aliveOnly bool) ([]*WorkerInfo, error) {
	rows, err := c.pool.Query(ctx, `
		SELECT id, client_id, host, pid, version, state, queues, kinds, running, started_at, last_seen_at, ended_at, free_slots
		  FROM flow.workers
		 WHERE NOT $1 OR state = 'alive'
		 ORDER BY id DESC`, aliveOnly)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*WorkerInfo, error) {
		var w WorkerInfo
		var state string
		err := row.Scan(&w.ID, &w.ClientID, &w.Host, &w.PID, &w.Version, &state, &w.Queues, &w.Kinds, &w.Running,
			&w.StartedAt, &w.LastSeenAt, &w.EndedAt, &w.FreeSlots)
		w.State = WorkerState(state)
		return &w, err
	})
}
