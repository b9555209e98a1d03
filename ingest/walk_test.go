package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixtureRoot is the fixture tree shared by the tests (read only: tests that
// change files work on a copy).
var fixtureRoot = "testdata"

func TestIgnoreRulesFollowGitignore(t *testing.T) {
	t.Parallel()
	root := ignoreStack(parseIgnore("", ".gitignore", []byte("# comment\n*.log\n!keep.log\n/build/\ndocs/*.md\n**/tmp/**\nname\\ with\\ space\n")))
	sub := append(root[:len(root):len(root)], parseIgnore("pkg", "pkg/.gitignore", []byte("gen_*.go\n/local\n"))...)
	cases := []struct {
		rules ignoreStack
		path  string
		dir   bool
		want  bool
	}{
		{root, "a.log", false, true},
		{root, "deep/down/b.log", false, true},
		{root, "keep.log", false, false}, // negated
		{root, "build", true, true},
		{root, "build", false, false},    // dir-only rule
		{root, "src/build", true, false}, // anchored to the root
		{root, "docs/a.md", false, true}, // a slash anchors
		{root, "x/docs/a.md", false, false},
		{root, "docs/sub/a.md", false, false}, // * does not cross a slash
		{root, "a/tmp/x/y.go", false, true},
		{root, "tmp", true, false}, // "tmp/**" is what is inside
		{root, "name with space", false, true},
		{sub, "pkg/gen_x.go", false, true},
		{sub, "pkg/deep/gen_x.go", false, true},
		{sub, "gen_x.go", false, false}, // a rule applies below its own directory only
		{sub, "pkg/local", false, true},
		{sub, "pkg/a/local", false, false},
		{sub, "pkg/x.log", false, true}, // the root's rules still apply
	}
	for _, c := range cases {
		got := c.rules.ignored(c.path, c.dir) != ""
		require.Equal(t, c.want, got, "%s (dir %v)", c.path, c.dir)
	}
	require.Equal(t, ".gitignore:2: *.log", root.ignored("x.log", false), "the reason names the file, line and pattern")
}

func TestWalkPrunesVendorAndIgnoredDirectories(t *testing.T) {
	t.Parallel()
	p, err := Walk(context.Background(), fixtureRoot)
	require.NoError(t, err)

	files := map[string]string{}
	var dirs []string
	for _, d := range p.Dirs {
		dirs = append(dirs, d.Path)
		for _, f := range d.Files {
			files[f.Path] = f.Ignored
		}
	}
	require.Equal(t, []string{".", "assets", "scripts", "util", "web"}, dirs)
	require.Equal(t, map[string]string{
		".gitignore": "", "README.md": "", "debug.log": ".gitignore:3: *.log", "empty.py": "", "main.go": "",
		"secret.go": ".gitignore:4: secret.go", "assets/blob.txt": "", "scripts/tool.py": "", "util/strings.go": "",
		"util/zz_generated.go": "", "web/App.vue": "",
	}, files)
	require.Equal(t, map[string]string{
		"build":           "ignored by .gitignore:5: /build/",
		"internal/vendor": "vendored",
	}, p.Pruned)
	require.Equal(t, 11, p.Files())
}

func TestValidateRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		path, ignored, content, skip string
	}{
		{"a.go", "", "package a\n", ""},
		{"a.go", ".gitignore:1: a.go", "package a\n", "ignored by .gitignore:1: a.go"},
		{"x/vendor/a.go", "", "package a\n", "vendored"},
		{"web/node_modules/x.js", "", "var x\n", "vendored"},
		{"a.go", "", goGenerated, "generated"},
		{"a.go", "", "  \n\t\n", "empty"},
		{"a.txt", "", "abc\x00def", "binary"},
		{"a.txt", "", "abc\xff\xfe", "binary"},
		{"run", "", "#!/bin/sh\necho hi\n", ""}, // the detect step finds its language
	}
	for _, c := range cases {
		v := validateContent(c.path, c.ignored, []byte(c.content))
		require.Equal(t, c.skip, v.skip, c.path+" "+c.content)
		if c.skip == "" {
			require.Len(t, v.hash, 64)
		}
	}
}

func TestALargeDirectoryExpandsInParts(t *testing.T) {
	t.Parallel()
	a := DirArgs{Run: 1, Codebase: "c", Root: "/r", Dir: "big", MaxFileSize: 10} // PartSize 0: MaxDirPart
	for i := 0; i < 2*MaxDirPart+1; i++ {
		a.Files = append(a.Files, DirFile{Path: "big/f" + strconv.Itoa(i) + ".go"})
	}
	spec, err := dirWorkflow(a).Spec()
	require.NoError(t, err)
	require.Len(t, spec.Nodes, 4, "three parts and the summary")
	require.Equal(t, "summary", spec.Output)
	require.Equal(t, []string{"part1", "part2", "part3"}, spec.Nodes[3].Deps)
	var part DirArgs
	require.NoError(t, json.Unmarshal(spec.Nodes[2].Args, &part))
	require.True(t, part.Part)
	require.Len(t, part.Files, 1)

	// A part expands into chains only.
	spec, err = dirWorkflow(part).Spec()
	require.NoError(t, err)
	require.Len(t, spec.Nodes, 6)
	require.Empty(t, spec.Output)
	require.Equal(t, "f1:f1000.go:stat", spec.Nodes[0].ID)
}

func TestRootNamesWhatIsWrong(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "a.go")
	require.NoError(t, os.WriteFile(file, []byte("package a\n"), 0o644))

	root, err := Root(dir)
	require.NoError(t, err)
	require.Equal(t, dir, root)

	_, err = Root("")
	require.EqualError(t, err, `no directory given ("" would be the current directory; pass "." to mean it)`)
	_, err = Root(filepath.Join(dir, "missing"))
	require.EqualError(t, err, fmt.Sprintf("directory %q does not exist", filepath.Join(dir, "missing")))
	_, err = Root(file)
	require.EqualError(t, err, fmt.Sprintf("%q is not a directory", file))
}

// The walk ignores what git ignores: on a repository with every kind of
// rule, the files it would ingest are the files `git ls-files -o
// --exclude-standard` lists.
func TestWalkAgreesWithGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	home := t.TempDir() // no global excludes file or config of the user's
	gitCmd := func(args ...string) []byte {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.Output()
		require.NoError(t, err, "git %v", args)
		return out
	}
	gitCmd("init", "-q")
	write := func(rel, content string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	write(".gitignore", strings.Join([]string{
		"# every kind of rule",
		"[!a]*.tmp", "*.log", "!keep.log", "build/", "/root-only.txt", "docs/**/*.gen",
		"[[:digit:]]*.bak", `\#hash`, `name\ with\ space`, "trailing.txt   ", "deep/**", "*.o",
	}, "\n")+"\n")
	write(".git/info/exclude", "excluded-by-info.txt\nsecret/\n")
	write("pkg/.gitignore", "gen_*.go\n!gen_keep.go\n/local\n")
	for _, f := range []string{
		"a.tmp", "b.tmp", "x/a.tmp", "x/b.tmp", "debug.log", "keep.log", "x/keep.log",
		"build/out.go", "src/build", "root-only.txt", "x/root-only.txt",
		"docs/c.gen", "docs/a/b/c.gen", "docs/c.md", "1.bak", "x.bak", "#hash", "name with space",
		"trailing.txt", "deep/x.go", "deep", "main.o", "main.go",
		"excluded-by-info.txt", "x/excluded-by-info.txt", "secret/s.txt",
		"pkg/gen_x.go", "pkg/gen_keep.go", "pkg/local", "pkg/deep/local", "pkg/deep/gen_y.go", "gen_z.go",
	} {
		if f == "deep" {
			f = "x/deep" // a file: "deep/**" is what is inside a directory deep
		}
		write(f, "x\n")
	}

	var want []string
	for _, p := range strings.Split(strings.TrimRight(string(gitCmd("ls-files", "-z", "-o", "--exclude-standard")), "\x00"), "\x00") {
		want = append(want, EncodePath(p))
	}
	plan, err := Walk(context.Background(), root)
	require.NoError(t, err)
	var got []string
	for _, d := range plan.Dirs {
		for _, f := range d.Files {
			if f.Ignored == "" {
				got = append(got, f.Path)
			}
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	require.Equal(t, want, got)
	require.Contains(t, got, "a.tmp", "[!a] keeps what starts with a")
	require.NotContains(t, got, "b.tmp")
	require.Contains(t, plan.Pruned, "secret", ".git/info/exclude prunes a directory")
}

// goGenerated is a generated Go file's start, spelt so that linguist does
// not take this test file itself for generated code (it looks for the words
// in the first 40 lines of any .go file).
const goGenerated = "// Code " + "generated by stringer. DO NOT EDIT.\n\npackage x\n"
