package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

func TestClean(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain text, ünïcödé, 漢字, emoji 👩‍💻":   "plain text, ünïcödé, 漢字, emoji 👩‍💻",
		"\x1b[2J\x1b[1;1Hall good":             `\u001b[2J\u001b[1;1Hall good`,
		"bell\a tab\t nl\n cr\r del\x7f":       `bell\u0007 tab\u0009 nl\u000a cr\u000d del\u007f`,
		"c1 csi \u009b31m osc \u009d0;x\u009c": `c1 csi \u009b31m osc \u009d0;x\u009c`,
		"rtl \u202eevil\u202c \u2066iso\u2069": `rtl \u202eevil\u202c \u2066iso\u2069`,
		"separators \u2028 \u2029":             `separators \u2028 \u2029`,
		"bad utf-8 \xff\x9b[31m":               `bad utf-8 \xff\x9b[31m`,
	} {
		got := Clean(in)
		require.Equal(t, want, got, "%q", in)
		require.Equal(t, got, Clean(got), "cleaning twice changes nothing more: %q", in)
	}
	// Valid JSON stays valid JSON, with the same value.
	raw := `{"a":"x\u001by","b":"` + "\u009b\u202e" + `"}`
	var before, after map[string]string
	require.NoError(t, json.Unmarshal([]byte(raw), &before))
	require.NoError(t, json.Unmarshal([]byte(Clean(raw)), &after))
	require.Equal(t, before, after)
}

// requireNoRawControls fails if out carries anything a terminal would act
// on, other than the newlines that end its lines.
func requireNoRawControls(t *testing.T, out string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		require.Equal(t, l, Clean(l), "a line with raw control characters: %q", l)
	}
	require.NotContains(t, out, "\x1b")
	require.False(t, strings.ContainsFunc(out, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }))
}

// What a run's starter controls (its name, node ids, kinds, errors,
// outputs, input) reaches an operator's terminal escaped, in every text
// output, and still lines up.
func TestTextOutputEscapesDatabaseText(t *testing.T) {
	t.Parallel()
	const evil = "\x1b[2J\x1b[Hfake \u202eprompt\u009b\a"
	escaped := Clean(evil)
	run := &flow.Run{ID: 5, Name: "name " + evil, State: flow.RunStateFailed, CreatedAt: created, TopRunID: 5,
		Input: json.RawMessage(`{"in": "` + "\u009b\u202e" + `"}`), Output: json.RawMessage(`{"out": "\u001b[31m"}`),
		NodeCount: 2, Failed: 1}
	rows := []*flow.TreeNode{
		{RunID: 5, Path: "id" + evil, NodeID: "id" + evil, Kind: "kind" + evil, State: "discarded", LastError: "error\n" + evil},
		{RunID: 5, Path: "b", NodeID: "b", Kind: "echo", State: "completed", Output: json.RawMessage(`{"v": "` + "\u202e" + `"}`)},
	}
	for _, v := range []View{{}, {Width: 500}, {MaxNodes: 1, Depth: 0}} {
		out := statusText(t, run, rows, v)
		requireNoRawControls(t, out)
		require.Contains(t, out, "name "+escaped)
		require.Contains(t, out, `{"in":"\u009b\u202e"}`)
	}
	out := statusText(t, run, rows, View{Width: 500})
	require.Contains(t, out, "\nid"+escaped+"  kind"+escaped+"  discarded  error: error "+escaped+"\n",
		"the error on one line; columns measured after escaping")
	require.Contains(t, out, "\nb"+strings.Repeat(" ", 40-1)+"  echo", "ids wider than 40 runes widen the column to 40")

	var b bytes.Buffer
	totals := map[int64]flow.TreeTotals{5: {Runs: 1, Nodes: 2, Failed: 1}}
	require.NoError(t, RunsText(&b, []*flow.Run{run}, totals, created))
	requireNoRawControls(t, b.String())
	require.Contains(t, b.String(), "name "+escaped)

	b.Reset()
	require.NoError(t, ProblemsText(&b, []flow.Problem{{RunID: 5, NodeID: "id" + evil, Problem: "node " + evil, Category: flow.ProblemStuck}}))
	requireNoRawControls(t, b.String())
	require.Contains(t, b.String(), "id"+escaped+"  stuck     node "+escaped)

	b.Reset()
	require.NoError(t, SchedulesText(&b, []*flow.ScheduleInfo{{Name: "s", Owner: "o" + evil, Cron: "0 3 * * *" + evil,
		TimeZone: "UTC", LastError: "error\n" + evil}}, created))
	requireNoRawControls(t, b.String())
	require.Contains(t, b.String(), "o"+escaped)
	require.Contains(t, b.String(), "s (o"+escaped+"): error "+escaped+"\n")
}

// JSON output escapes what encoding/json lets through raw (C1 controls,
// bidirectional formatting) and decodes to the same values.
func TestJSONEscapesControls(t *testing.T) {
	t.Parallel()
	v := map[string]any{"name": "a\u009b31m\u202eb\x1b", "n": 1, "list": []string{"x"}}
	var b bytes.Buffer
	require.NoError(t, JSON(&b, v))
	require.Equal(t, "{\n  \"list\": [\n    \"x\"\n  ],\n  \"n\": 1,\n  \"name\": \"a\\u009b31m\\u202eb\\u001b\"\n}\n", b.String())
	var back map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	require.Equal(t, v["name"], back["name"])
}

// Width is $COLUMNS when the output is not a terminal, else unknown.
func TestWidth(t *testing.T) {
	var b bytes.Buffer
	require.False(t, IsTerminal(&b))
	t.Setenv("COLUMNS", "77")
	require.Equal(t, 77, Width(&b))
	t.Setenv("COLUMNS", "wide")
	require.Equal(t, 0, Width(&b))
	t.Setenv("COLUMNS", "")
	require.Equal(t, 0, Width(&b))
}
