package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/htdag/htdag/flow"
)

// runsCommand lists top runs, newest first, with their trees' totals.
func (a *app) runsCommand() *cobra.Command {
	var (
		state  string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List top runs, newest first (--state, --limit)",
		Long: `runs lists top runs (not the child runs of sub-workflows, maps and
expansions), newest first. RUNS, NODES, UNFINISHED and FAILED count the
run's whole tree: itself and every run below it (` + "`worker status RUN`" + ` shows it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch flow.RunState(state) {
			case "", flow.RunStatePending, flow.RunStateRunning, flow.RunStateCompleted, flow.RunStateFailed, flow.RunStateCancelled:
			default:
				return usageError(cmd, fmt.Errorf("--state %q: want pending, running, completed, failed or cancelled", state))
			}
			ctx := cmd.Context()
			client, pool, err := a.openClientPool(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()

			runs, err := client.ListRuns(ctx, flow.RunState(state), limit)
			if err != nil {
				return migrateHint(err)
			}
			totals, err := readTreeTotals(ctx, pool, runs)
			if err != nil {
				return migrateHint(err)
			}
			if asJSON {
				return writeRunsJSON(cmd.OutOrStdout(), runs, totals, time.Now())
			}
			return writeRunsText(cmd.OutOrStdout(), runs, totals, time.Now())
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only runs in this state")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many runs (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}

// writeJSON prints v as indented JSON: the --json output of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// treeTotals counts a top run's tree: the run and every run below it.
type treeTotals struct {
	Runs       int `json:"runs"`
	Nodes      int `json:"nodes"`
	Unfinished int `json:"unfinished"`
	Failed     int `json:"failed"`
}

// treeTotalsSQL sums the counters of the runs below each top run, through
// the index on root_run_id: one query for the whole list.
const treeTotalsSQL = `
SELECT t.id, count(c.id)::integer, coalesce(sum(c.node_count), 0)::integer,
       coalesce(sum(c.unfinished), 0)::integer, coalesce(sum(c.failed), 0)::integer
  FROM unnest($1::bigint[]) AS t(id)
  LEFT JOIN flow.run c ON c.root_run_id = t.id
 GROUP BY t.id`

func readTreeTotals(ctx context.Context, pool *pgxpool.Pool, runs []*flow.Run) (map[int64]treeTotals, error) {
	totals := make(map[int64]treeTotals, len(runs))
	ids := make([]int64, 0, len(runs))
	for _, r := range runs {
		totals[r.ID] = treeTotals{Runs: 1, Nodes: r.NodeCount, Unfinished: r.Unfinished, Failed: r.Failed}
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		return totals, nil
	}
	rows, err := pool.Query(ctx, treeTotalsSQL, ids)
	if err != nil {
		return nil, err
	}
	var id int64
	var below treeTotals
	_, err = pgx.ForEachRow(rows, []any{&id, &below.Runs, &below.Nodes, &below.Unfinished, &below.Failed}, func() error {
		t := totals[id]
		t.Runs += below.Runs
		t.Nodes += below.Nodes
		t.Unfinished += below.Unfinished
		t.Failed += below.Failed
		totals[id] = t
		return nil
	})
	return totals, err
}

// runsRowJSON is one run of `runs --json`: the run's own fields (as in
// `status --json`) and its tree's totals.
type runsRowJSON struct {
	runJSON
	Tree treeTotals `json:"tree"`
}

func writeRunsJSON(w io.Writer, runs []*flow.Run, totals map[int64]treeTotals, now time.Time) error {
	out := make([]runsRowJSON, 0, len(runs))
	for _, r := range runs {
		out = append(out, runsRowJSON{runJSON: newRunJSON(r, now), Tree: totals[r.ID]})
	}
	return writeJSON(w, out)
}

func writeRunsText(w io.Writer, runs []*flow.Run, totals map[int64]treeTotals, now time.Time) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tRUNS\tNODES\tUNFINISHED\tFAILED\tCREATED\tDURATION")
	for _, r := range runs {
		dur := "-"
		if d, ok := runDuration(r, now); ok {
			dur = d.Round(time.Millisecond).String()
		}
		t := totals[r.ID]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.ID, orDash(r.Name), r.State, t.Runs, t.Nodes, t.Unfinished, t.Failed,
			r.CreatedAt.UTC().Format("2006-01-02 15:04:05"), dur)
	}
	return tw.Flush()
}
