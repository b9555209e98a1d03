package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPathsAreEscapedReversibly(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"main.go":             "main.go",
		"dir/été.go":          "dir/été.go",
		"a\xff.go":            `a\xff.go`,
		"a\xfe.go":            `a\xfe.go`,
		`back\slash`:          `back\\slash`,
		`a\xff.go (literal)`:  `a\\xff.go (literal)`,
		"d\xc3/x\xe9\x80.txt": `d\xc3/x\xe9\x80.txt`,
	}
	seen := map[string]string{}
	for raw, stored := range cases {
		require.Equal(t, stored, EncodePath(raw), "%q", raw)
		back, err := DecodePath(stored)
		require.NoError(t, err)
		require.Equal(t, raw, back)
		require.NotContains(t, seen, stored, "two names, one stored path")
		seen[stored] = raw
	}
	for _, bad := range []string{`a\`, `a\q`, `a\x4`, `a\xzz`} {
		_, err := DecodePath(bad)
		require.Error(t, err, bad)
	}
}
