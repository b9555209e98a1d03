package flowhttp

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/htdag/htdag/flow"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"dur": func(d *time.Duration) string {
		if d == nil {
			return ""
		}
		return formatDuration(*d)
	},
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).ParseFS(assets, "assets/*.html"))

// runsListLimit is how many runs /runs/ shows.
const runsListLimit = 200

func (s *Server) handleRuns() {
	static, _ := fs.Sub(assets, "assets")
	s.mux.Handle("GET /runs/assets/", http.StripPrefix("/runs/assets/", http.FileServerFS(static)))
	s.handle("GET /runs/", s.runList)
	s.mux.HandleFunc("GET /runs/{id}", s.runPage)
}

// runListRow is one line of /runs/.
type runListRow struct {
	ID        int64
	Name      string
	State     string
	Nodes     int
	Failed    int
	Runs      int64 // in its tree
	CreatedAt time.Time
	Duration  *time.Duration
}

// runList: top runs, newest first, filtered by state and a name substring.
func (s *Server) runList(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	name := r.URL.Query().Get("name")
	if state != "" && !flow.RunState(state).Finished() && state != string(flow.RunStatePending) && state != string(flow.RunStateRunning) {
		http.Error(w, "state: want pending, running, completed, failed or cancelled", http.StatusBadRequest)
		return
	}
	rows, err := s.opts.Pool.Query(r.Context(), `
		SELECT r.id, r.name, r.state, r.node_count, r.failed,
		       1 + (SELECT count(*) FROM flow.run c WHERE c.root_run_id = r.id),
		       r.created_at, r.finished_at - r.created_at
		  FROM flow.run r
		 WHERE r.parent_run_id IS NULL AND ($1 = '' OR r.state = $1) AND ($2 = '' OR strpos(lower(r.name), lower($2)) > 0)
		 ORDER BY r.id DESC LIMIT $3`, state, name, runsListLimit)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (runListRow, error) {
		var x runListRow
		var d *time.Duration
		err := row.Scan(&x.ID, &x.Name, &x.State, &x.Nodes, &x.Failed, &x.Runs, &x.CreatedAt, &d)
		x.Duration = d
		return x, err
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, "runs.html", map[string]any{
		"Runs": list, "State": state, "Name": name, "Limit": runsListLimit,
		"States": []string{"pending", "running", "completed", "failed", "cancelled"},
	})
}

// runPage serves /runs/{id} (the page) and /runs/{id}.json (its data).
func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	asJSON := strings.HasSuffix(raw, ".json")
	id, err := strconv.ParseInt(strings.TrimSuffix(raw, ".json"), 10, 64)
	if err != nil || id < 1 {
		http.Error(w, "run id: want a positive integer", http.StatusBadRequest)
		return
	}
	g, err := s.runGraph(r, id)
	if errors.Is(err, flow.ErrRunNotFound) {
		http.Error(w, "run "+strconv.FormatInt(id, 10)+" not found", http.StatusNotFound)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(g)
		return
	}
	s.render(w, "run.html", map[string]any{"Run": g.Run, "RiverUI": s.riverUI != nil})
}

// runGraph is /runs/{id}.json: the run and its own nodes with their edges;
// a node that runs as a child run names it, and the page fetches that run's
// graph when the node is expanded.
type runGraph struct {
	Run   graphRun    `json:"run"`
	Nodes []graphNode `json:"nodes"`
	// RiverUI is the path of River UI's job pages ("" when not served).
	RiverUI string `json:"river_ui"`
}

type graphRun struct {
	ID          int64         `json:"id"`
	Name        string        `json:"name"`
	State       flow.RunState `json:"state"`
	Nodes       int           `json:"nodes"`
	Unfinished  int           `json:"unfinished"`
	Failed      int           `json:"failed"`
	CreatedAt   time.Time     `json:"created_at"`
	StartedAt   *time.Time    `json:"started_at"`
	FinishedAt  *time.Time    `json:"finished_at"`
	DurationMS  *float64      `json:"duration_ms"`
	ParentRunID *int64        `json:"parent_run_id"`
	ParentNode  *string       `json:"parent_node"`
	TopRunID    int64         `json:"top_run_id"`
	Depth       int           `json:"depth"`
	Finished    bool          `json:"finished"`
	// TimeoutMS and DeadlineAt: the run's deadline, when it has one.
	TimeoutMS  int64      `json:"timeout_ms,omitempty"`
	DeadlineAt *time.Time `json:"deadline_at,omitempty"`
	// CancelReason says why a cancelled run was cancelled.
	CancelReason string `json:"cancel_reason,omitempty"`
}

type graphNode struct {
	ID          string         `json:"id"`
	JobID       int64          `json:"job_id"`
	Kind        string         `json:"kind"`
	State       flow.NodeState `json:"state"`
	Attempt     int            `json:"attempt"`
	MaxAttempts int            `json:"max_attempts"`
	Parents     []string       `json:"parents"`
	LastError   string         `json:"last_error,omitempty"`
	DurationMS  *float64       `json:"duration_ms"`
	ChildRunID  *int64         `json:"child_run_id,omitempty"`
}

func (s *Server) runGraph(r *http.Request, id int64) (*runGraph, error) {
	run, err := s.flow.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	nodes, err := s.flow.Nodes(r.Context(), id)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	g := &runGraph{Run: graphRun{
		ID: run.ID, Name: run.Name, State: run.State, Nodes: run.NodeCount, Unfinished: run.Unfinished, Failed: run.Failed,
		CreatedAt: run.CreatedAt, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt,
		ParentRunID: run.ParentRunID, ParentNode: run.ParentNodeID, TopRunID: run.TopRunID, Depth: run.Depth,
		Finished: run.State.Finished(), TimeoutMS: run.TimeoutMS, DeadlineAt: run.DeadlineAt, CancelReason: run.CancelReason,
	}, Nodes: make([]graphNode, 0, len(nodes))}
	if run.StartedAt != nil {
		g.Run.DurationMS = millis(*run.StartedAt, run.FinishedAt, now)
	}
	if s.riverUI != nil {
		g.RiverUI = RiverUIPrefix + "/jobs/"
	}
	for _, n := range nodes {
		gn := graphNode{
			ID: n.NodeID, JobID: n.JobID, Kind: n.Kind, State: n.State, Attempt: n.Attempt, MaxAttempts: n.MaxAttempts,
			Parents: n.Parents, LastError: n.LastError, ChildRunID: n.ChildRunID,
		}
		if gn.Parents == nil {
			gn.Parents = []string{}
		}
		if n.AttemptedAt != nil {
			gn.DurationMS = millis(*n.AttemptedAt, n.FinalizedAt, now)
		}
		g.Nodes = append(g.Nodes, gn)
	}
	return g, nil
}

// millis is the time from start to end (now while end is nil), in ms.
func millis(start time.Time, end *time.Time, now time.Time) *float64 {
	e := now
	if end != nil {
		e = *end
	}
	ms := float64(e.Sub(start).Microseconds()) / 1000
	return &ms
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
	default:
		return d.Round(time.Second).String()
	}
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.opts.Logger.Error("htdag: rendering "+name, "error", err)
	}
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.opts.Logger.Error("htdag: "+r.URL.Path, "error", err)
	http.Error(w, "database error: "+err.Error(), http.StatusInternalServerError)
}
