package ingest

// Channels the ingestion announces itself on (see docs/INGEST.md).
const (
	// ProgressChannel carries one notification when a run's plan is known
	// ({"run", "event": "planned", "files", "dirs"}), one per file when its
	// store step commits ({"run", "event": "file", "path", "status",
	// "reason"}), and one per failed attempt of a step ({"run", "event":
	// "error", "path", "step", "attempt", "final", "error"}; final is true
	// when River will not try again).
	ProgressChannel = "ingest_progress"
	// IndexedChannel carries one notification per run, sent by the index
	// step as it commits: {"run", "codebase", "state", "files", "lines",
	// "symbols", "added", "modified", "unchanged", "removed", "skipped",
	// "lines_added", "lines_removed", "symbols_added", "symbols_removed"}.
	IndexedChannel = "ingest_indexed"
)

// Progress event kinds.
const (
	EventPlanned = "planned"
	EventFile    = "file"
	EventError   = "error"
)

// Event is a payload on ProgressChannel.
type Event struct {
	Run     int64  `json:"run"`
	Event   string `json:"event"`
	Files   int    `json:"files,omitempty"`
	Dirs    int    `json:"dirs,omitempty"`
	Path    string `json:"path,omitempty"`
	Status  string `json:"status,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Step    string `json:"step,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	Final   bool   `json:"final,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Indexed is the payload on IndexedChannel, and the index node's output.
type Indexed struct {
	Run       int64  `json:"run"`
	Codebase  string `json:"codebase"`
	State     string `json:"state"`
	Files     int    `json:"files"`
	Lines     int64  `json:"lines"`
	Symbols   int64  `json:"symbols"`
	Added     int    `json:"added"`
	Modified  int    `json:"modified"`
	Unchanged int    `json:"unchanged"`
	Removed   int    `json:"removed"`
	Skipped   int    `json:"skipped"`

	LinesAdded     int64 `json:"lines_added"`
	LinesRemoved   int64 `json:"lines_removed"`
	SymbolsAdded   int64 `json:"symbols_added"`
	SymbolsRemoved int64 `json:"symbols_removed"`
}
