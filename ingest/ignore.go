package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// ignoreRule is one pattern line of a .gitignore file.
type ignoreRule struct {
	base     string   // directory of the .gitignore, relative to the root ("" at the root)
	segs     []string // the pattern split on "/", without leading/trailing slashes
	negate   bool     // "!pattern": re-include
	dirOnly  bool     // "pattern/": directories only
	anchored bool     // a slash at the start or in the middle: relative to base
	source   string   // "dir/.gitignore:3: pattern", for reasons
}

// parseIgnore reads the rules of an ignore file (named file in reasons)
// that applies in directory base (relative to the root, "" for the root),
// following gitignore(5): blank lines and # comments are skipped, trailing
// spaces dropped unless escaped, "!" negates, a trailing "/" matches
// directories only, a slash elsewhere anchors the pattern to base, "**"
// matches any number of directories, and each segment is a wildmatch glob.
func parseIgnore(base, file string, data []byte) []ignoreRule {
	var rules []ignoreRule
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasSuffix(line, `\ `) {
			line = strings.TrimRight(line[:len(line)-2], " ") + `\ `
		} else {
			line = strings.TrimRight(line, " \t")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{base: base, source: fmt.Sprintf("%s:%d: %s", file, n, line)}
		switch {
		case strings.HasPrefix(line, "!"):
			r.negate = true
			line = line[1:]
		case strings.HasPrefix(line, `\!`), strings.HasPrefix(line, `\#`):
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly = true
			line = strings.TrimRight(line, "/")
		}
		if strings.Contains(line, "/") {
			r.anchored = true
			line = strings.TrimLeft(line, "/")
		}
		if line == "" {
			continue
		}
		r.segs = strings.Split(line, "/")
		rules = append(rules, r)
	}
	return rules
}

// match reports whether the rule matches rel (slash-separated, relative to
// the root) of the given kind.
func (r *ignoreRule) match(rel string, isDir bool) bool {
	if r.dirOnly && !isDir {
		return false
	}
	if r.base != "" {
		if !strings.HasPrefix(rel, r.base+"/") {
			return false
		}
		rel = rel[len(r.base)+1:]
	}
	parts := strings.Split(rel, "/")
	if !r.anchored {
		// No slash in the pattern: it matches a name at any depth.
		return wildmatch(r.segs[0], parts[len(parts)-1])
	}
	return matchSegs(r.segs, parts)
}

// matchSegs matches pattern segments against path segments, "**" standing
// for zero or more whole segments.
func matchSegs(pat, parts []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return len(parts) > 0 // "dir/**" matches what is inside, not dir itself
			}
			for i := 0; i <= len(parts); i++ {
				if matchSegs(rest, parts[i:]) {
					return true
				}
			}
			return false
		}
		if len(parts) == 0 {
			return false
		}
		if !wildmatch(pat[0], parts[0]) {
			return false
		}
		pat, parts = pat[1:], parts[1:]
	}
	return len(parts) == 0
}

// ignoreStack is the rules in force in a directory: those of every
// .gitignore from the root down to it, in that order (the last match wins).
type ignoreStack []ignoreRule

// ignored returns the rule that ignores rel, or "" when rel is not ignored.
func (s ignoreStack) ignored(rel string, isDir bool) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].match(rel, isDir) {
			if s[i].negate {
				return ""
			}
			return s[i].source
		}
	}
	return ""
}
