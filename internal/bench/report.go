package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresSettings are the server settings reported with the results.
var postgresSettings = []string{
	"synchronous_commit", "fsync", "wal_level", "shared_buffers", "work_mem",
	"max_connections", "commit_delay", "full_page_writes", "autovacuum",
}

// machine describes the CPU, memory, PostgreSQL and Go, and returns the
// PostgreSQL settings that matter for commit-bound work.
func machine(ctx context.Context, pool *pgxpool.Pool) (string, map[string]string, error) {
	var version string
	if err := pool.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&version); err != nil {
		return "", nil, fmt.Errorf("bench: reading the PostgreSQL version: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT name, current_setting(name) FROM unnest($1::text[]) AS name`, postgresSettings)
	if err != nil {
		return "", nil, fmt.Errorf("bench: reading PostgreSQL settings: %w", err)
	}
	settings := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			rows.Close()
			return "", nil, err
		}
		settings[name] = value
	}
	if err := rows.Err(); err != nil {
		return "", nil, err
	}

	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if v := procField(b, "model name"); v != "" {
			cpu = v
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := strconv.ParseUint(strings.TrimSuffix(procField(b, "MemTotal"), " kB"), 10, 64); err == nil {
			mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d cores%s, PostgreSQL %s, %s %s/%s",
		cpu, runtime.NumCPU(), mem, version, runtime.Version(), runtime.GOOS, runtime.GOARCH), settings, nil
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(b []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// resetPeakRSS makes the current resident set the process's peak (VmHWM).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS reads VmHWM, the peak resident set since the last reset.
func peakRSS() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	kb, err := strconv.ParseUint(strings.TrimSuffix(procField(b, "VmHWM"), " kB"), 10, 64)
	if err != nil {
		return 0, false
	}
	return kb * 1024, true
}

// WriteTable writes the report as a readable table, with the machine and
// settings above it and the shapes' descriptions and notes below.
func (r *Report) WriteTable(w io.Writer) error {
	s := r.Settings
	size := "full sizes"
	if s.Quick {
		size = "quick (1/100) sizes"
	}
	var pg []string
	keys := make([]string, 0, len(s.Postgres))
	for k := range s.Postgres {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pg = append(pg, k+"="+s.Postgres[k])
	}
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "htdag benchmark, %s, %s\n", size, r.StartedAt.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(ew, "machine:  %s\n", r.Machine)
	fmt.Fprintf(ew, "postgres: %s\n", strings.Join(pg, " "))
	fmt.Fprintf(ew, "workers:  River %s, MaxWorkers %d, FetchCooldown %s, FetchPollInterval %s (shape defaults: %s, %s), pool %d conns\n\n",
		s.River, s.MaxWorkers, s.FetchCooldown, s.FetchPollInterval,
		s.DefaultsFetchCooldown, s.DefaultsFetchPollInterval, s.PoolMaxConns)

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\truns\tnodes\tnodes/s\tx baseline\tstep p50\tp95\tp99\tmax\tinsert\tpeak RSS\tDB B/node\t")
	for _, res := range r.Results {
		ratio := "-"
		if res.RatioToBaseline > 0 {
			ratio = fmt.Sprintf("%.2f", res.RatioToBaseline)
		}
		step := func(d time.Duration) string {
			if res.Steps == 0 {
				return "-"
			}
			return fmtDur(d)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t\n",
			res.Shape, res.Runs, res.Nodes, res.NodesPerSec, ratio,
			step(res.StepP50), step(res.StepP95), step(res.StepP99), step(res.StepMax),
			fmtDur(res.InsertTime), fmtBytes(res.PeakRSSBytes), res.DBBytesPerNode)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(ew)
	if err := r.writeHierarchy(ew); err != nil {
		return err
	}
	for _, res := range r.Results {
		fmt.Fprintf(ew, "%-9s %s", res.Shape, s.Shapes[res.Shape])
		if res.Notes != "" {
			fmt.Fprintf(ew, "; %s", res.Notes)
		}
		fmt.Fprintln(ew)
	}
	fmt.Fprintf(ew, "\nelapsed %s\n", fmtDur(r.Elapsed))
	return ew.err
}

// errWriter keeps the first write error so the table code can stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// writeHierarchy writes the hierarchy shapes' figures, if any ran: release
// latencies by kind (p50/p99), the engine's time per node, and each shape's
// costliest flow functions.
func (r *Report) writeHierarchy(w io.Writer) error {
	var hs []Result
	for _, res := range r.Results {
		if res.Hierarchy != nil {
			hs = append(hs, res)
		}
	}
	if len(hs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "hierarchy\tnodes\tworked\tchild runs\tdepth\tnodes/s\t")
	for _, k := range releaseOrder {
		fmt.Fprintf(tw, "%s p50\tp99\t", k)
	}
	fmt.Fprintln(tw, "trigger/node\texpand/node\tflow fns self/node\tDB CPU/node\tGo CPU/node\t")
	for _, res := range hs {
		h := res.Hierarchy
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t", res.Shape, res.Nodes, h.Worked, h.ChildRuns, h.Depth, res.NodesPerSec)
		for _, k := range releaseOrder {
			i := slices.IndexFunc(h.Releases, func(l Latency) bool { return l.Kind == k })
			if i < 0 {
				fmt.Fprint(tw, "-\t-\t")
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t", fmtDur(h.Releases[i].P50), fmtDur(h.Releases[i].P99))
		}
		if len(h.Functions) == 0 {
			fmt.Fprint(tw, "-\t-\t-\t")
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t", fmtDur(h.TriggerPerNode), fmtDur(h.ExpandPerNode), fmtDur(h.EngineSelfPerNode))
		}
		db := "-"
		if h.CPUNote == "" {
			db = fmtDur(h.DBCPUPerNode)
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", db, fmtDur(h.GoCPUPerNode))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, res := range hs {
		h := res.Hierarchy
		if h.CPUNote != "" {
			fmt.Fprintf(w, "%-9s %s\n", res.Shape, h.CPUNote)
		}
		if len(h.Functions) == 0 {
			if h.FunctionsNote != "" {
				fmt.Fprintf(w, "%-9s %s\n", res.Shape, h.FunctionsNote)
			}
			continue
		}
		var parts []string
		for _, f := range h.Functions[:min(len(h.Functions), 8)] {
			parts = append(parts, fmt.Sprintf("%s %d calls, total %s, self %s", f.Name, f.Calls, fmtDur(f.Total), fmtDur(f.Self)))
		}
		fmt.Fprintf(w, "%-9s flow functions: %s", res.Shape, strings.Join(parts, "; "))
		if h.FunctionsNote != "" {
			fmt.Fprintf(w, " (%s)", h.FunctionsNote)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	return nil
}
