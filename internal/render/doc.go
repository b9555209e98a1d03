// Package render prints what htdag's commands show about runs, for people
// (text tables and trees) and scripts (JSON): a run's status with its whole
// tree of child runs, lists of runs, the engine's check problems. It works on
// values flow.Client has read (flow.Run, flow.TreeNode, flow.NodeInfo), so it
// is tested without a database.
//
// Each view of a value has a file per output format (status_text.go,
// status_json.go); a new format, such as a run's DAG in DOT or Mermaid, is a
// new file beside them. What every format shares (JSON, terminal width,
// escaping, table layout) is in output.go. Text output passes everything
// read from the database through Clean: a run's name or a node's error
// cannot carry terminal escape sequences to an operator's screen.
package render
