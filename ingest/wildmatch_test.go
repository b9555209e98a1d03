package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWildmatchFollowsGit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*.go", "a.go", true},
		{"*.go", "a.gox", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[!a]*.tmp", "b.tmp", true}, // path.Match inverts these two
		{"[!a]*.tmp", "a.tmp", false},
		{"[^a]*.tmp", "b.tmp", true},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[!a-c]x", "dx", true},
		{"[]a]", "]", true}, // ']' first is literal
		{"[!]]", "]", false},
		{"[a-]", "-", true},
		{"[[:digit:]]*", "1.bak", true},
		{"[[:digit:]]*", "x.bak", false},
		{"[[:upper:][:digit:]]", "Q", true},
		{"[[:nope:]]", "a", false}, // unknown class: matches nothing
		{"[abc", "a", false},       // unclosed: matches nothing
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`name\ with\ space`, "name with space", true},
		{"**", "anything", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"é?", "éa", true},
	}
	for _, c := range cases {
		require.Equal(t, c.want, wildmatch(c.pattern, c.name), "%q vs %q", c.pattern, c.name)
	}
}
