package render

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// diamondGraph: a → b, c → d in run 1, where c runs as child run 2 (one
// node, x) and failed; b completed in 12 ms; d was cancelled.
func diamondGraph() *Graph {
	ptr := func(id int64) *int64 { return &id }
	at := func(ms int) *time.Time { t := created.Add(time.Duration(ms) * time.Millisecond); return &t }
	child := &Graph{
		Run:   &flow.Run{ID: 2, Name: `say "hi"`, State: flow.RunStateFailed},
		Nodes: []*flow.NodeInfo{{NodeID: "x", Kind: "fail", State: "discarded", AttemptedAt: at(0), FinalizedAt: at(2)}},
	}
	return &Graph{
		Run: &flow.Run{ID: 1, Name: "diamond", State: flow.RunStateFailed},
		Nodes: []*flow.NodeInfo{
			{NodeID: "a", Kind: "echo", State: "completed", AttemptedAt: at(0), FinalizedAt: at(1)},
			{NodeID: "b", Kind: "echo", State: "completed", Parents: []string{"a"}, AttemptedAt: at(1), FinalizedAt: at(13)},
			{NodeID: "c", Kind: "flow.workflow", State: "discarded", Parents: []string{"a"}, ChildRunID: ptr(2)},
			{NodeID: "d", Kind: "echo", State: "cancelled", Parents: []string{"b", "c"}},
		},
		Children: map[int64]*Graph{2: child},
	}
}

func TestStatusDOT(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, StatusDOT(&b, diamondGraph(), created))
	require.Equal(t, `digraph "run 1" {
  rankdir=LR;
  labelloc=t;
  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];
  edge [color="#5b616b"];
  label="run 1 diamond (failed)";
  "1/a" [label="a\necho · completed · 1.0ms", fillcolor="#2e9d57", fontcolor=white];
  "1/b" [label="b\necho · completed · 12.0ms", fillcolor="#2e9d57", fontcolor=white];
  "1/c" [label="c\nflow.workflow · discarded", fillcolor="#d1382f", fontcolor=white, style="rounded,filled,dashed", penwidth=2];
  "1/d" [label="d\necho · cancelled", fillcolor="#6b6f76", fontcolor=white];
  "1/a" -> "1/b";
  "1/a" -> "1/c";
  "1/b" -> "1/d";
  "1/c" -> "1/d";
  subgraph "cluster_2" {
    label="run 2 say \"hi\" (failed)";
    style="dashed,rounded";
    color="#9fb0c8";
    "2/x" [label="x\nfail · discarded · 2.0ms", fillcolor="#d1382f", fontcolor=white];
  }
  "1/c" -> "2/x" [style=dashed];
}
`, b.String())
}

func TestStatusMermaid(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, StatusMermaid(&b, diamondGraph(), created))
	require.Equal(t, `%% run 1 diamond (failed)
flowchart LR
  r1_0["a<br/>echo · completed · 1.0ms"]:::completed
  r1_1["b<br/>echo · completed · 12.0ms"]:::completed
  r1_2["c<br/>flow.workflow · discarded"]:::discarded
  r1_3["d<br/>echo · cancelled"]:::cancelled
  r1_0 --> r1_1
  r1_0 --> r1_2
  r1_1 --> r1_3
  r1_2 --> r1_3
  subgraph run2["run 2 say #quot;hi#quot; (failed)"]
    r2_0["x<br/>fail · discarded · 2.0ms"]:::discarded
  end
  r1_2 -.-> r2_0
  classDef cancelled fill:#6b6f76,color:#fff,stroke:#1d2127
  classDef completed fill:#2e9d57,color:#fff,stroke:#1d2127
  classDef discarded fill:#d1382f,color:#fff,stroke:#1d2127
`, b.String())
}

// Text from the database cannot break out of a label, in either format.
func TestGraphLabelsAreEscaped(t *testing.T) {
	g := &Graph{Run: &flow.Run{ID: 7, Name: "a\"] --> evil[\"\x1b[31m", State: flow.RunStateRunning},
		Nodes: []*flow.NodeInfo{{NodeID: "n", Kind: `k"\`, State: "running"}}}
	var dot, mermaid bytes.Buffer
	require.NoError(t, StatusDOT(&dot, g, created))
	require.NoError(t, StatusMermaid(&mermaid, g, created))
	require.Contains(t, dot.String(), `label="run 7 a\"] --> evil[\"\\u001b[31m (running)";`)
	require.Contains(t, dot.String(), `label="n\nk\"\\ · running"`)
	require.Contains(t, mermaid.String(), `%% run 7 a#quot;] --#gt; evil[#quot;\u001b[31m (running)`)
	require.Contains(t, mermaid.String(), `r7_0["n<br/>k#quot;\ · running"]:::running`)
	require.NotContains(t, dot.String()+mermaid.String(), "\x1b")
}
