package ingest

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A file named with escape sequences (or a codebase, or an error) reaches
// the report escaped: a starter's file must not paint on an operator's
// terminal.
func TestWriteReportEscapesNames(t *testing.T) {
	t.Parallel()
	const evil = "x\x1b[2J\x1b[HALL RUNS HEALTHY\u202e"
	var b bytes.Buffer
	WriteReport(&b, &Report{Run: 1, Codebase: "cb" + evil, Root: "/r" + evil, State: "completed", PreviousRun: 1,
		Changes: []FileChange{{Path: "f" + evil, Status: "added", SymbolsAdded: []string{"S" + evil}}}},
		[]string{"boom" + evil}, time.Second, 0)
	out := b.String()
	require.NotContains(t, out, "\x1b")
	require.NotContains(t, out, "\u202e")
	require.Contains(t, out, `f x\u001b[2J\u001b[HALL RUNS HEALTHY\u202e`[2:])
}
