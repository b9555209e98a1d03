package ingest

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/htdag/htdag/ingest/parse"
)

// Plan is what the walk of a codebase found: the directories holding files,
// each with its files, and the directories it did not enter.
type Plan struct {
	Dirs   []DirPlan         `json:"dirs"`
	Pruned map[string]string `json:"pruned,omitempty"` // directory → why it was not entered
}

// DirPlan is one directory and the files directly in it, sorted by name.
type DirPlan struct {
	Path  string     `json:"path"` // "." for the root
	Files []FilePlan `json:"files"`
}

// FilePlan is one file found by the walk.
type FilePlan struct {
	Path string `json:"path"` // slash-separated, relative to the root
	// Ignored is the .gitignore rule that ignores the file ("" when none):
	// the validate step skips it.
	Ignored string `json:"ignored,omitempty"`
}

// Files counts the planned files.
func (p *Plan) Files() int {
	n := 0
	for _, d := range p.Dirs {
		n += len(d.Files)
	}
	return n
}

// Walk lists the files under root. Every file it finds gets a per-file
// chain, whose validate step decides whether it is stored; but Walk does not
// enter directories whose files would all be rejected: .git, vendored
// directories (linguist's: vendor, node_modules, testdata, ...) and directories ignored by a .gitignore (git does
// not look inside those either). .gitignore files are read at every level and
// apply below their directory, as git applies them, above the root's
// .git/info/exclude. (A user's global excludes file is not read: the walk
// runs in a worker, whose configuration is not the user's.)
func Walk(ctx context.Context, root string) (*Plan, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	p := &Plan{Pruned: map[string]string{}}
	if err := walkDir(ctx, root, "", nil, p); err != nil {
		return nil, err
	}
	sort.Slice(p.Dirs, func(i, j int) bool { return p.Dirs[i].Path < p.Dirs[j].Path })
	return p, nil
}

func walkDir(ctx context.Context, root, rel string, rules ignoreStack, p *Plan) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	abs := filepath.Join(root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(abs)
	if err != nil {
		if skip := unreadable(err); rel != "" && skip != "" {
			p.Pruned[EncodePath(rel)] = skip
			return nil
		}
		return err
	}
	if rel == "" {
		// The repository's own excludes rank below every .gitignore, so
		// they come first (the last matching rule wins).
		if data, err := os.ReadFile(filepath.Join(abs, ".git", "info", "exclude")); err == nil {
			rules = parseIgnore("", ".git/info/exclude", data)
		}
	}
	if data, err := os.ReadFile(filepath.Join(abs, ".gitignore")); err == nil {
		rules = append(rules[:len(rules):len(rules)], parseIgnore(rel, EncodePath(path.Join(rel, ".gitignore")), data)...)
	}
	dir := DirPlan{Path: EncodePath(rel)}
	if rel == "" {
		dir.Path = "."
	}
	var subdirs []string
	for _, e := range entries { // sorted by name
		name := e.Name()
		child := path.Join(rel, name)
		if name == ".git" {
			p.Pruned[EncodePath(child)] = "git metadata"
			continue
		}
		if e.IsDir() {
			switch src := rules.ignored(child, true); {
			case parse.Vendored(child + "/"):
				p.Pruned[EncodePath(child)] = SkipVendored
			case src != "":
				p.Pruned[EncodePath(child)] = "ignored by " + src
			default:
				subdirs = append(subdirs, child)
			}
			continue
		}
		// Regular files, symlinks and anything else: the stat step decides.
		dir.Files = append(dir.Files, FilePlan{Path: EncodePath(child), Ignored: rules.ignored(child, false)})
	}
	if len(dir.Files) > 0 {
		p.Dirs = append(p.Dirs, dir)
	}
	for _, sub := range subdirs {
		if err := walkDir(ctx, root, sub, rules, p); err != nil {
			return err
		}
	}
	return nil
}
