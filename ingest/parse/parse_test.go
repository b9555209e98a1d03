package parse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixtureRoot is the fixture tree shared by the tests (read only: tests that
// change files work on a copy).
var fixtureRoot = filepath.Join("..", "testdata")

func TestLanguageComesFromLinguist(t *testing.T) {
	t.Parallel()
	cases := []struct{ path, content, want string }{
		{"a/b.go", "package b\n", "go"},
		{"Makefile", "all:\n", "makefile"},
		{"x.TS", "let x = 1\n", "typescript"},
		{"App.vue", "<template><p>hi</p></template>\n", "vue"}, // not on the old hand-made list
		{".ci/run", "#!/usr/bin/env bash\necho hi\n", "shell"},
		{"tool", "#!/usr/bin/python3.12\nprint(1)\n", "python"},
		{"tool", "#!/opt/weird\n", ""},
		{"go.mod", "module x\n", "go module"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, Language(c.path, []byte(c.content)), c.path)
	}
	require.True(t, Vendored("internal/vendor/"))
	require.True(t, Vendored("web/node_modules/x.js"))
	require.False(t, Vendored("internal/x.go"))
	require.True(t, Generated("x.go", []byte(goGenerated)))
	require.False(t, Generated("x.go", []byte("package x\n")))
}

func TestParseGoFindsPackageImportsAndDefinitions(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(fixtureRoot, "main.go"))
	require.NoError(t, err)
	p := File("main.go", "go", src)
	require.Empty(t, p.Error)
	require.Equal(t, "main", p.Package)
	require.Equal(t, []string{"fmt", "os", "example.com/fixture/util"}, p.Imports)
	require.Equal(t, []Symbol{
		{Kind: "const", Name: "Version", Start: 12, End: 12},
		{Kind: "type", Name: "Config", Start: 15, End: 18},
		{Kind: "type", Name: "Greeter", Start: 21, End: 23},
		{Kind: "var", Name: "defaultName", Start: 26, End: 26},
		{Kind: "var", Name: "verbose", Start: 27, End: 27},
		{Kind: "method", Name: "Greet", Parent: "*Config", Start: 31, End: 33},
		{Kind: "func", Name: "main", Start: 35, End: 41},
	}, p.Symbols)
	require.Equal(t, 41, p.Lines)
	// Declarations carry their doc comments, for chunking.
	require.Equal(t, Decl{Label: "method *Config.Greet", Start: 30, End: 33}, p.Decls[4])
	require.Equal(t, Decl{Label: "var (defaultName, verbose)", Start: 25, End: 28}, p.Decls[3])
}

func TestParseGoKeepsWhatPrecedesASyntaxError(t *testing.T) {
	t.Parallel()
	p := File("bad.go", "go", []byte("package bad\n\nfunc Good() {}\n\nfunc Bad( {\n"))
	require.NotEmpty(t, p.Error)
	require.Equal(t, "bad", p.Package)
	require.Equal(t, "func Good", p.Symbols[0].Key())
}

func TestParseGenericReceivers(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(fixtureRoot, "util", "strings.go"))
	require.NoError(t, err)
	p := File("util/strings.go", "go", src)
	var keys []string
	for _, s := range p.Symbols {
		keys = append(keys, s.Key())
	}
	require.Equal(t, []string{"func Title", "func Reverse", "type Pair", "method Pair[T].Swap"}, keys)
}

func symbolKeys(p *Parsed) []string {
	var keys []string
	for _, s := range p.Symbols {
		keys = append(keys, s.Key())
	}
	return keys
}

func TestLightExtractors(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(fixtureRoot, "scripts", "tool.py"))
	require.NoError(t, err)
	p := File("scripts/tool.py", "python", src)
	require.Equal(t, []Symbol{
		{Kind: "class", Name: "Counter", Start: 9, End: 17},
		{Kind: "function", Name: "main", Start: 20, End: 24},
	}, p.Symbols)

	sql := "-- t\nCREATE TABLE a.t (\n  x int\n);\n\nCREATE FUNCTION a.f() RETURNS int\nLANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1; -- ;\nEND;\n$$;\nCREATE INDEX ON a.t (x);\nCREATE OR REPLACE VIEW a.v AS SELECT 1;\n"
	p = File("x.sql", "sql", []byte(sql))
	require.Equal(t, []Symbol{
		{Kind: "table", Name: "a.t", Start: 2, End: 4},
		{Kind: "function", Name: "a.f", Start: 6, End: 11},
		{Kind: "view", Name: "a.v", Start: 13, End: 13},
	}, p.Symbols)
	require.Equal(t, 1, p.Decls[0].Start, "the comment above a definition joins its chunk")

	js := "import x from 'y';\n\nexport function f(a) {\n  if (a) { return '}'; }\n}\n\nexport const K = 3\nclass C {\n  m() {}\n}\n"
	p = File("x.js", "javascript", []byte(js))
	require.Equal(t, []Symbol{
		{Kind: "function", Name: "f", Start: 3, End: 5},
		{Kind: "variable", Name: "K", Start: 7, End: 7},
		{Kind: "class", Name: "C", Start: 8, End: 10},
	}, p.Symbols)

	sh := "#!/bin/sh\nset -e\n\nlog() { echo \"$*\" >&2; }\n\nmain() {\n  log hi\n}\nmain \"$@\"\n"
	p = File("x.sh", "shell", []byte(sh))
	require.Equal(t, []Symbol{
		{Kind: "function", Name: "log", Start: 4, End: 4},
		{Kind: "function", Name: "main", Start: 6, End: 8},
	}, p.Symbols)

	rs := "use std::io;\n\npub struct P {\n    x: i32,\n}\n\nimpl P {\n    fn new() -> Self { P { x: 0 } }\n}\n\npub(crate) fn f<'a>(s: &'a str) -> &'a str {\n    s\n}\n"
	p = File("x.rs", "rust", []byte(rs))
	require.Equal(t, []string{"struct P", "impl P", "function f"}, symbolKeys(p))
	require.Equal(t, 13, p.Symbols[2].End)

	md, err := os.ReadFile(filepath.Join(fixtureRoot, "README.md"))
	require.NoError(t, err)
	p = File("README.md", "markdown", md)
	require.Equal(t, []Symbol{
		{Kind: "section", Name: "Fixture", Start: 1, End: 11},
		{Kind: "section", Name: "Layout", Start: 5, End: 7},
		{Kind: "section", Name: "Rules", Start: 9, End: 11},
	}, p.Symbols)

	mk := ".PHONY: a\n# build it\na: b\n\tgo build\n\nb:\n\techo\nX := 1\n"
	p = File("Makefile", "makefile", []byte(mk))
	require.Equal(t, []string{"target a", "target b"}, symbolKeys(p))

	require.Empty(t, File("x.yaml", "yaml", []byte("a: 1\n")).Symbols, "no extractor: no symbols")
}

func TestChunksFollowDefinitionsUnderACap(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(fixtureRoot, "main.go"))
	require.NoError(t, err)
	p := File("main.go", "go", src)
	chunks := Chunks(src, p.Decls, MaxChunkBytes)
	var labels []string
	for _, c := range chunks {
		labels = append(labels, c.Symbol)
		require.Equal(t, strings.Count(string(src[c.From:c.To]), "\n"), c.End-c.Start, "lines and bytes agree")
	}
	require.Equal(t, []string{"", "const Version", "type Config", "type Greeter", "var (defaultName, verbose)",
		"method *Config.Greet", "func main"}, labels)
	require.Equal(t, "// Command fixture is a small program for the ingestion tests.\npackage main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\n\t\"example.com/fixture/util\"\n)",
		string(src[chunks[0].From:chunks[0].To]))

	// A definition over the cap is split at line boundaries, a long line at runes.
	long := "func Big() {\n" + strings.Repeat("\tx := 1 // é\n", 100) + "}\n" + strings.Repeat("é", 300) + "\n"
	p = File("big.go", "go", []byte("package big\n\n"+long))
	chunks = Chunks([]byte("package big\n\n"+long), p.Decls, 256)
	total := 0
	for _, c := range chunks {
		require.LessOrEqual(t, c.To-c.From, 256)
		require.NotEmpty(t, c.To-c.From)
		total += c.To - c.From
	}
	require.Greater(t, len(chunks), 5)
	require.Equal(t, "func Big", chunks[1].Symbol)
	require.Equal(t, "", chunks[len(chunks)-1].Symbol)
}

func TestLineChangesCountLikeDiff(t *testing.T) {
	t.Parallel()
	a := []byte("a\nb\nc\nd\ne\n")
	added, removed := LineChanges(a, []byte("a\nB\nc\nd\ne\nf\n"))
	require.Equal(t, 2, added)
	require.Equal(t, 1, removed)
	added, removed = LineChanges(a, a)
	require.Zero(t, added+removed)
	added, removed = LineChanges(a, []byte("c\nd\n"))
	require.Equal(t, 0, added)
	require.Equal(t, 3, removed)
	added, removed = LineChanges(nil, a)
	require.Equal(t, 5, added)
	require.Equal(t, 0, removed)
	require.Equal(t, 3, editDistance([]string{"a", "b", "c"}, []string{"b", "c", "x", "y"}, 100))
}

// A line that looks like a definition but lies inside a string literal or
// a comment opened on an earlier line is not one.
func TestLightExtractorsSkipStringsAndComments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		language, src string
		want          []string
	}{
		{"python", "DOC = \"\"\"\ndef fake():\n    pass\nclass Fake:\n\"\"\"\n\n# def commented():\n\ndef real():\n    return '''\nclass AlsoFake:\n'''\n", []string{"function real"}},
		{"javascript", "const tpl = `\nfunction fake() {}\n`;\n/*\nclass Fake {}\n*/\nfunction real() { return \"/*\"; }\nclass Real {}\n", []string{"variable tpl", "function real", "class Real"}},
		{"plpgsql", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$\nBEGIN\nCREATE TABLE fake (x int);\nEND;\n$body$;\n/* CREATE VIEW\nCREATE VIEW fake_view AS SELECT 1;\n*/\nCREATE TABLE real (s text DEFAULT '\nCREATE TABLE fake2 (x int);\n');\n", []string{"function f", "table real"}},
		{"shell", "msg='\nfake() {\n'\nreal() { echo \"$#\"; }\n", []string{"function real"}},
		{"rust", "const S: &str = \"\nfn fake() {}\n\";\nfn real<'a>(s: &'a str) -> &'a str { s }\n", []string{"const S", "function real"}},
		{"lua", "--[[\nfunction fake()\nend\n]]\nfunction real()\nend\n", []string{"function real"}},
		{"c", "/* a comment\nint fake(void) {\n*/\nint real(void) {\n  return 0;\n}\n", []string{"function real"}},
	}
	for _, c := range cases {
		require.Equal(t, c.want, symbolKeys(File("x", c.language, []byte(c.src))), c.language)
	}
}

// goGenerated is a generated Go file's start, spelt so that linguist does
// not take this test file itself for generated code (it looks for the words
// in the first 40 lines of any .go file).
const goGenerated = "// Code " + "generated by stringer. DO NOT EDIT.\n\npackage x\n"
