package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/jobs"
)

// The hierarchy shapes answer one question: does the per-node cost of
// releasing children grow with the size of a tree of runs? Each comes at
// about 1,000 and about 100,000 nodes:
//
//   - tree: one "decompose" node summing [0, L) with threshold 2, which
//     expands at run time into halves until ranges have one integer: every
//     expansion is a child run of three nodes (lo, hi, sum), so the tree has
//     exactly 3L-2 nodes, L-1 child runs and ceil(log2 L) levels.
//   - flattree: the same DAG in one flat run (noop split nodes where the tree
//     has expanding nodes, the same leaves and sum nodes): 3L-2 nodes, the
//     same dependencies and outputs, no child runs. What the tree costs
//     beyond it is the hierarchy.
//   - maptree: static nesting: a map over E elements of a workflow that maps
//     over E elements of noop (2 + E(E+3) nodes, 2E+1 child runs, 3 levels).
//
// Besides the figures of every shape, they report release latencies by kind
// (Hierarchy.Releases), the time spent in htdag's SQL functions
// (pg_stat_user_functions, with track_functions set on the database for the
// shape) and the CPU time of the database's backends and of this process.

// hierarchyShapes are measured after the flat shapes.
var hierarchyShapes = []shape{
	treeShape(ShapeTree1k, 1_000, false),
	treeShape(ShapeTree100k, 100_000, true),
	flatTreeShape(ShapeFlatTree1k, 1_000, false),
	flatTreeShape(ShapeFlatTree100k, 100_000, true),
	mapTreeShape(ShapeMapTree1k, 1_000, false),
	mapTreeShape(ShapeMapTree100k, 100_000, true),
}

// treeLeaves is the number of leaves of a decompose tree of about nodes
// nodes (3L-2 nodes for L leaves).
func treeLeaves(nodes int) int { return max((nodes+2)/3, 2) }

func treeShape(name string, full int, optIn bool) shape {
	return shape{
		name:  name,
		optIn: optIn,
		describe: func(q bool) string {
			l := treeLeaves(size(q, full))
			return fmt.Sprintf("1 decompose node summing [0, %d) with threshold 2, expanding at run time: %d nodes, %d child runs, %d levels",
				l, 3*l-2, l-1, treeDepth(l))
		},
		build: func(q bool) *workload {
			l := treeLeaves(size(q, full))
			args, _ := json.Marshal(jobs.DecomposeArgs{From: 0, To: int64(l), Threshold: 2})
			spec := &flow.Spec{Name: name, Output: "root", Nodes: []flow.NodeSpec{{ID: "root", Kind: "decompose", Args: args}}}
			w := single(mustJSON(spec), 3*l-2)
			w.hierarchy = true
			w.wantOutput = sumOutput(l)
			return w
		},
	}
}

func flatTreeShape(name string, full int, optIn bool) shape {
	return shape{
		name:  name,
		optIn: optIn,
		describe: func(q bool) string {
			l := treeLeaves(size(q, full))
			return fmt.Sprintf("the decompose tree of %d leaves as one flat run: %d split (noop), %d leaf (decompose) and %d sum (decompose.sum) nodes",
				l, l-1, l, l-1)
		},
		build: func(q bool) *workload {
			l := treeLeaves(size(q, full))
			spec, n := flatTreeSpec(name, l)
			w := single(spec, n)
			w.hierarchy = true
			w.wantOutput = sumOutput(l)
			return w
		},
	}
}

func mapTreeShape(name string, full int, optIn bool) shape {
	return shape{
		name:  name,
		optIn: optIn,
		describe: func(q bool) string {
			e := mapTreeWidth(size(q, full))
			return fmt.Sprintf("items -> map over %d elements of a workflow (items -> map over %d elements of noop): %d nodes, %d child runs, 3 levels",
				e, e, mapTreeNodes(e), 2*e+1)
		},
		build: func(q bool) *workload {
			e := mapTreeWidth(size(q, full))
			w := single(mapTreeSpec(name, e), mapTreeNodes(e))
			w.hierarchy = true
			return w
		},
	}
}

// treeDepth is the number of levels of child runs below a decompose node of
// l leaves with threshold 2: ceil(log2 l).
func treeDepth(l int) int {
	d := 0
	for n := 1; n < l; n *= 2 {
		d++
	}
	return d
}

// sumOutput is the output of a decompose of [0, l): {"sum": 0+1+...+(l-1)}.
func sumOutput(l int) string {
	return fmt.Sprintf(`{"sum": %d}`, int64(l)*int64(l-1)/2)
}

// flatTreeSpec is the DAG a decompose of [0, l) with threshold 2 unfolds
// into, as one run: a range of two or more integers is a split node (noop,
// where the tree has the node that expands), then its halves, then a sum
// node (decompose.sum) after both halves' results; a range of one integer is
// a decompose leaf. The halves split as jobs.DecomposeWorker splits them.
func flatTreeSpec(name string, l int) ([]byte, int) {
	spec := &flow.Spec{Name: name, Nodes: make([]flow.NodeSpec, 0, 3*l-2)}
	var build func(from, to int64, dep string) string
	build = func(from, to int64, dep string) string {
		var deps []string
		if dep != "" {
			deps = []string{dep}
		}
		if to-from < 2 {
			id := fmt.Sprintf("x%d", from)
			args, _ := json.Marshal(jobs.DecomposeArgs{From: from, To: to, Threshold: 2})
			spec.Nodes = append(spec.Nodes, flow.NodeSpec{ID: id, Kind: "decompose", Args: args, Deps: deps})
			return id
		}
		split := fmt.Sprintf("s%d_%d", from, to)
		spec.Nodes = append(spec.Nodes, flow.NodeSpec{ID: split, Kind: "noop", Deps: deps})
		mid := from + (to-from)/2
		lo := build(from, mid, split)
		hi := build(mid, to, split)
		sum := fmt.Sprintf("u%d_%d", from, to)
		spec.Nodes = append(spec.Nodes, flow.NodeSpec{ID: sum, Kind: "decompose.sum", Deps: []string{lo, hi}})
		return sum
	}
	spec.Output = build(0, int64(l), "")
	return mustJSON(spec), len(spec.Nodes)
}

// mapTreeWidth is the largest E (at least 2) whose map tree has at most
// nodes nodes.
func mapTreeWidth(nodes int) int {
	e := int((math.Sqrt(float64(9+4*(nodes-2))) - 3) / 2)
	return max(e, 2)
}

func mapTreeNodes(e int) int { return 2 + e*(e+3) }

// mapTreeSpec is items(e) -> map of workflow {items(e) -> map of noop},
// with jobs' "items" kind as the maps' source.
func mapTreeSpec(name string, e int) []byte {
	list := make([]json.RawMessage, e)
	for i := range list {
		list[i] = json.RawMessage(strconv.Itoa(i))
	}
	items, _ := json.Marshal(jobs.ItemsArgs{Items: list})
	kind := jobs.ItemsArgs{}.Kind()
	element := &flow.Spec{Name: "element", Output: "leaf", Nodes: []flow.NodeSpec{
		{ID: "items", Kind: kind, Args: items},
		{ID: "leaf", Map: "items", Kind: "noop"},
	}}
	return mustJSON(&flow.Spec{Name: name, Output: "m", Nodes: []flow.NodeSpec{
		{ID: "items", Kind: kind, Args: items},
		{ID: "m", Map: "items", Workflow: element},
	}})
}

// Hierarchy holds a hierarchy shape's figures.
type Hierarchy struct {
	// ChildRuns is the number of runs below the top run; Depth the deepest
	// one's level (0 for a flat run).
	ChildRuns int `json:"child_runs"`
	Depth     int `json:"depth"`
	// Worked is the number of jobs River worked (every job but sub-workflow
	// and map nodes, which only wait for their child runs); Parked the
	// number of nodes that waited for a child run (expanded, sub-workflow
	// and map nodes), each finished by the release trigger.
	Worked int `json:"worked"`
	Parked int `json:"parked"`
	// Releases are latencies by kind of release (see the Release* names).
	Releases []Latency `json:"releases"`
	// Functions is the time spent in htdag's SQL functions (schema flow)
	// during the shape, from pg_stat_user_functions with track_functions =
	// 'all' set on the database for the shape; largest total first. Empty
	// when it could not be measured (FunctionsNote says why).
	Functions     []FuncStat `json:"functions"`
	FunctionsNote string     `json:"functions_note,omitempty"`
	// TriggerPerNode is the release trigger's (flow.on_river_job_update)
	// total time, nested functions included, over Nodes; ExpandPerNode the
	// same for flow.expand (run-time expansion, called in an expanding
	// node's completion transaction, outside the trigger); EngineSelfPerNode
	// the self time of every flow function over Nodes (nothing counted
	// twice: the release, expansion, inserts, inputs and outputs).
	TriggerPerNode    time.Duration `json:"trigger_per_node_ns"`
	ExpandPerNode     time.Duration `json:"expand_per_node_ns"`
	EngineSelfPerNode time.Duration `json:"engine_self_per_node_ns"`
	// DBCPUPerNode is the CPU time (user + system) of the database's
	// backends during the shape over Nodes, read from /proc when the server
	// runs on this machine (0 otherwise, CPUNote says why); GoCPUPerNode is
	// this process's (River's workers, the completer, the harness). Unlike
	// the function times, which are wall time, CPU time does not count
	// waiting for a core on a busy machine.
	DBCPUPerNode time.Duration `json:"db_cpu_per_node_ns"`
	GoCPUPerNode time.Duration `json:"go_cpu_per_node_ns"`
	CPUNote      string        `json:"cpu_note,omitempty"`
}

// Kinds of release latency, each from timestamps in river_job and flow.run.
const (
	// ReleaseTaskParent: a worked node whose last parent to finish is a
	// task: its attempted_at minus that parent's finalized_at (the step of
	// the flat shapes).
	ReleaseTaskParent = "task parent"
	// ReleaseParkedParent: a worked node whose last parent to finish waited
	// for a child run and was finished by the trigger when that run
	// finished: attempted_at minus the parked parent's finalized_at. The
	// roll-up (child run finished, parked node completed, its children
	// released) is inside the parent's completion statement.
	ReleaseParkedParent = "parked parent"
	// ReleaseRunRoot: a worked node without parents in a child run: its
	// attempted_at minus its created_at, the start of the transaction that
	// expanded its run's node or released its sub-workflow or map node.
	ReleaseRunRoot = "child-run root"
	// ParkedFinish: a parked node's finalized_at minus its child run's
	// finished_at. The trigger does both in one transaction, so this is 0
	// by construction; it is reported to show it.
	ParkedFinish = "parked finish"
)

// Latency is one kind of release latency over a shape's nodes.
type Latency struct {
	Kind string        `json:"kind"`
	N    int           `json:"n"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
}

// FuncStat is one function's share of a shape (pg_stat_user_functions).
type FuncStat struct {
	Name  string        `json:"name"`
	Calls int64         `json:"calls"`
	Total time.Duration `json:"total_ns"`
	Self  time.Duration `json:"self_ns"`
}

// hierarchySQL reads a finished hierarchy shape's tree and release latencies.
const hierarchySQL = `
WITH parked AS (
    SELECT parent_job_id AS job_id, finished_at FROM flow.run WHERE parent_job_id IS NOT NULL
), steps AS (
    SELECT extract(epoch FROM c.attempted_at - max(p.finalized_at))::float8 AS s,
           (array_agg(pk.job_id IS NOT NULL ORDER BY p.finalized_at DESC, p.id DESC))[1] AS via_parked
      FROM flow.node n
      JOIN public.river_job c ON c.id = n.job_id
     CROSS JOIN LATERAL unnest(n.parents) AS pp(id)
      JOIN public.river_job p ON p.id = pp.id
      LEFT JOIN parked pk ON pk.job_id = p.id
     WHERE n.parents <> '{}' AND n.mode IS NULL AND c.attempted_at IS NOT NULL
     GROUP BY c.id, c.attempted_at
), lat AS (
    SELECT CASE WHEN via_parked THEN $1 ELSE $2 END AS kind, s FROM steps
    UNION ALL
    SELECT $3, extract(epoch FROM c.attempted_at - c.created_at)::float8
      FROM flow.node n
      JOIN flow.run r ON r.id = n.run_id
      JOIN public.river_job c ON c.id = n.job_id
     WHERE n.parents = '{}' AND n.mode IS NULL AND r.parent_run_id IS NOT NULL AND c.attempted_at IS NOT NULL
    UNION ALL
    SELECT $4, extract(epoch FROM j.finalized_at - pk.finished_at)::float8
      FROM parked pk JOIN public.river_job j ON j.id = pk.job_id
)
SELECT kind, count(*),
       percentile_cont(0.50) WITHIN GROUP (ORDER BY s),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY s),
       max(s)
  FROM lat
 GROUP BY kind`

// releaseOrder is the order of Hierarchy.Releases.
var releaseOrder = []string{ReleaseTaskParent, ReleaseParkedParent, ReleaseRunRoot, ParkedFinish}

// measureHierarchy fills sr.res.Hierarchy's tree and latency figures and
// checks the top run's output.
func (sr *shapeRun) measureHierarchy(ctx context.Context) error {
	h := sr.res.Hierarchy
	if h == nil {
		h = &Hierarchy{}
		sr.res.Hierarchy = h
	}
	err := sr.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM flow.run WHERE parent_run_id IS NOT NULL),
		       (SELECT coalesce(max(depth), 0) FROM flow.run),
		       (SELECT count(*) FROM public.river_job WHERE kind NOT IN ('flow.workflow', 'flow.map')),
		       (SELECT count(*) FROM flow.run WHERE parent_job_id IS NOT NULL)`).
		Scan(&h.ChildRuns, &h.Depth, &h.Worked, &h.Parked)
	if err != nil {
		return fmt.Errorf("measuring the tree: %w", err)
	}
	if sr.w.wantOutput != "" {
		var ok *bool
		if err := sr.pool.QueryRow(ctx, `SELECT output = $1::jsonb FROM flow.run WHERE parent_run_id IS NULL`, sr.w.wantOutput).
			Scan(&ok); err != nil {
			return fmt.Errorf("reading the top run's output: %w", err)
		}
		if ok == nil || !*ok {
			return fmt.Errorf("the top run's output is not %s", sr.w.wantOutput)
		}
	}

	rows, err := sr.pool.Query(ctx, hierarchySQL, ReleaseParkedParent, ReleaseTaskParent, ReleaseRunRoot, ParkedFinish)
	if err != nil {
		return fmt.Errorf("measuring release latencies: %w", err)
	}
	byKind := map[string]Latency{}
	for rows.Next() {
		var (
			l            Latency
			p50, p99, mx float64
		)
		if err := rows.Scan(&l.Kind, &l.N, &p50, &p99, &mx); err != nil {
			rows.Close()
			return err
		}
		l.P50, l.P99, l.Max = seconds(p50), seconds(p99), seconds(mx)
		byKind[l.Kind] = l
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("measuring release latencies: %w", err)
	}
	h.Releases = nil
	for _, k := range releaseOrder {
		if l, ok := byKind[k]; ok {
			h.Releases = append(h.Releases, l)
		}
	}
	return nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// funcStats measures htdag's SQL functions over a shape: start turns on
// track_functions for the database and reconnects the pool; stop turns it
// off, reconnects again (a backend flushes its counters when it exits) and
// returns the difference.
type funcStats struct {
	pool   *pgxpool.Pool
	db     string
	before map[string]FuncStat
	on     bool
}

// startFuncStats turns function tracking on for pool's database. When it
// cannot (track_functions is a superuser setting), it returns why and the
// shape runs without it.
func startFuncStats(ctx context.Context, pool *pgxpool.Pool) (*funcStats, string) {
	fs := &funcStats{pool: pool}
	if err := pool.QueryRow(ctx, `SELECT current_database()`).Scan(&fs.db); err != nil {
		return nil, "function times not measured: " + err.Error()
	}
	if _, err := pool.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{fs.db}.Sanitize()+` SET track_functions = 'all'`); err != nil {
		return nil, "function times not measured (setting track_functions needs a superuser or GRANT SET ON PARAMETER): " + err.Error()
	}
	fs.on = true
	// New connections get the setting; the old ones would not.
	pool.Reset()
	fs.waitAlone(ctx)
	var err error
	if fs.before, err = readFuncStats(ctx, pool); err != nil {
		fs.stop(ctx)
		return nil, "function times not measured: " + err.Error()
	}
	return fs, ""
}

// stop turns tracking off and returns the counters accumulated since start,
// largest total first, and a note when they may be incomplete.
func (fs *funcStats) stop(ctx context.Context) ([]FuncStat, string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var note string
	if fs.on {
		if _, err := fs.pool.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{fs.db}.Sanitize()+` RESET track_functions`); err != nil {
			note = "could not reset track_functions: " + err.Error()
		}
		fs.on = false
	}
	fs.pool.Reset()
	if !fs.waitAlone(ctx) {
		note = strings.TrimPrefix(note+"; other sessions on the database did not exit: function times may miss their last seconds", "; ")
	}
	if fs.before == nil {
		return nil, note
	}
	after, err := readFuncStats(ctx, fs.pool)
	if err != nil {
		return nil, "function times not read: " + err.Error()
	}
	var out []FuncStat
	for name, a := range after {
		b := fs.before[name]
		d := FuncStat{Name: name, Calls: a.Calls - b.Calls, Total: a.Total - b.Total, Self: a.Self - b.Self}
		if d.Calls > 0 {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y FuncStat) int {
		return cmp.Or(cmp.Compare(y.Total, x.Total), strings.Compare(x.Name, y.Name))
	})
	return out, note
}

// waitAlone waits (up to 10 s) until no other session is connected to the
// database, so that every backend of the pool has exited and flushed its
// counters. It reports whether that happened.
func (fs *funcStats) waitAlone(ctx context.Context) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var others int
		err := fs.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).
			Scan(&others)
		if err == nil && others == 0 {
			return true
		}
		if err != nil || time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		// The pool keeps the connection this query used; close it, or it
		// is counted as another session next time round.
		fs.pool.Reset()
		time.Sleep(20 * time.Millisecond)
	}
}

// readFuncStats reads the counters of the flow schema's functions, summing
// overloads.
func readFuncStats(ctx context.Context, pool *pgxpool.Pool) (map[string]FuncStat, error) {
	rows, err := pool.Query(ctx, `
		SELECT funcname, sum(calls)::bigint, sum(total_time)::float8, sum(self_time)::float8
		  FROM pg_stat_user_functions WHERE schemaname = 'flow' GROUP BY funcname`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]FuncStat{}
	for rows.Next() {
		var (
			f           FuncStat
			total, self float64
		)
		if err := rows.Scan(&f.Name, &f.Calls, &total, &self); err != nil {
			return nil, err
		}
		f.Total = time.Duration(total * float64(time.Millisecond))
		f.Self = time.Duration(self * float64(time.Millisecond))
		out[f.Name] = f
	}
	return out, rows.Err()
}

// setFunctions records the function figures on the result.
func (sr *shapeRun) setFunctions(fns []FuncStat, note string) {
	h := sr.res.Hierarchy
	if h == nil {
		h = &Hierarchy{}
		sr.res.Hierarchy = h
	}
	h.Functions, h.FunctionsNote = fns, note
	if len(fns) == 0 || sr.res.Nodes == 0 {
		return
	}
	n := time.Duration(sr.res.Nodes)
	var self time.Duration
	for _, f := range fns {
		self += f.Self
		switch f.Name {
		case "on_river_job_update":
			h.TriggerPerNode = f.Total / n
		case "expand":
			h.ExpandPerNode = f.Total / n
		}
	}
	h.EngineSelfPerNode = self / n
}

// cpuMeter measures the CPU time of the database's backends (from
// /proc/<pid>/stat, when the server is on this machine) and of this process
// over a shape.
type cpuMeter struct {
	pool    *pgxpool.Pool
	backend map[int]time.Duration
	self    time.Duration
	note    string
}

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

func startCPU(ctx context.Context, pool *pgxpool.Pool) *cpuMeter {
	m := &cpuMeter{pool: pool, self: selfCPU()}
	m.backend, m.note = backendCPU(ctx, pool)
	return m
}

// stop returns the CPU time of the backends and of this process since start.
// Backends that exited meanwhile are missed: call it before closing the
// pool's connections.
func (m *cpuMeter) stop(ctx context.Context) (db, self time.Duration, note string) {
	self = selfCPU() - m.self
	if m.note != "" {
		return 0, self, m.note
	}
	after, note := backendCPU(ctx, m.pool)
	if note != "" {
		return 0, self, note
	}
	for pid, t := range after {
		db += t - m.backend[pid]
	}
	return db, self, ""
}

// backendCPU reads the CPU time of every backend connected to the pool's
// database.
func backendCPU(ctx context.Context, pool *pgxpool.Pool) (map[int]time.Duration, string) {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil, "backend CPU not measured: " + err.Error()
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, "backend CPU not measured: " + err.Error()
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmd), "postgres") {
			return nil, "backend CPU not measured: the server's processes are not visible here"
		}
		t, err := procCPU(pid)
		if err != nil {
			return nil, "backend CPU not measured: " + err.Error()
		}
		out[int(pid)] = t
	}
	return out, ""
}

// procCPU is utime + stime of a process, from /proc/<pid>/stat.
func procCPU(pid int32) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(u+s) * clockTick, nil
}

// selfCPU is this process's user + system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// setCPU records the CPU figures on the result.
func (sr *shapeRun) setCPU(db, self time.Duration, note string) {
	h := sr.res.Hierarchy
	if h == nil {
		h = &Hierarchy{}
		sr.res.Hierarchy = h
	}
	if sr.res.Nodes > 0 {
		n := time.Duration(sr.res.Nodes)
		h.DBCPUPerNode, h.GoCPUPerNode = db/n, self/n
	}
	h.CPUNote = note
}
