package parse

import (
	"regexp"
	"strings"
)

// The light extractor finds top-level definitions of languages other than Go
// line by line: a definition starts on a line matching one of its language's
// patterns (at column 0, so nested definitions are not counted) and ends where
// the language's block rule says. It reads no grammar, so it can be fooled by
// odd formatting; what it gets wrong costs a chunk boundary, nothing more.

// blockEnd finds the last line (0-based) of the definition starting at line i.
type blockEnd func(lines []string, i int) int

type lightRule struct {
	re   *regexp.Regexp // groups: name (required), kind (optional, overrides Kind)
	kind string
}

type extractor struct {
	rules []lightRule
	end   blockEnd
	// attach matches lines (comments, decorators, annotations) that belong
	// to the definition below them, for chunking.
	attach *regexp.Regexp
	// reject drops a match by name (keywords a loose pattern catches).
	reject map[string]bool
	// syntax tells lines that start inside a comment or a string, where
	// no pattern may match; nil: every line counts.
	syntax *syntax
}

func rule(kind, pattern string) lightRule {
	return lightRule{kind: kind, re: regexp.MustCompile(pattern)}
}

var (
	slashComments = regexp.MustCompile(`^(//|/\*|\*|\s+\*|@)`)
	hashComments  = regexp.MustCompile(`^(#|@)`)
	jsMods        = `^(?:export\s+)?(?:default\s+)?(?:declare\s+)?`
)

var extractors = map[string]*extractor{
	"python": {
		rules: []lightRule{
			rule("function", `^(?:async\s+)?def\s+(?P<name>\w+)`),
			rule("class", `^class\s+(?P<name>\w+)`),
		},
		end: indentEnd, attach: hashComments, syntax: pythonSyntax,
	},
	"javascript": {rules: jsRules, end: braceEnd(false), attach: slashComments, syntax: jsSyntax},
	"typescript": {rules: jsRules, end: braceEnd(false), attach: slashComments, syntax: jsSyntax},
	"tsx":        {rules: jsRules, end: braceEnd(false), attach: slashComments, syntax: jsSyntax},
	"rust": {
		rules: []lightRule{
			rule("function", `^(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+(?P<name>\w+)`),
			rule("", `^(?:pub(?:\([^)]*\))?\s+)?(?P<kind>struct|enum|trait|union|mod|type|const|static)\s+(?P<name>\w+)`),
			rule("impl", `^(?:unsafe\s+)?impl(?:<[^>]*>)?\s+(?P<name>[^{]+?)\s*(?:\{|$)`),
			rule("macro", `^macro_rules!\s*(?P<name>\w+)`),
		},
		end: braceEnd(false), attach: regexp.MustCompile(`^(//|#\[)`), syntax: cSyntaxMultiline,
	},
	"java":   {rules: jvmRules, end: braceEnd(false), attach: slashComments, syntax: jvmSyntax},
	"kotlin": {rules: jvmRules, end: braceEnd(false), attach: slashComments, syntax: jvmSyntax},
	"scala":  {rules: jvmRules, end: braceEnd(false), attach: slashComments, syntax: jvmSyntax},
	"c#":     {rules: jvmRules, end: braceEnd(false), attach: regexp.MustCompile(`^(//|/\*|\*|\s+\*|\[)`), syntax: jvmSyntax},
	"c":      {rules: cRules, end: braceEnd(false), attach: slashComments, reject: cKeywords, syntax: cSyntax},
	"c++":    {rules: cRules, end: braceEnd(false), attach: slashComments, reject: cKeywords, syntax: cSyntax},
	"php": {
		rules: []lightRule{
			rule("", `^(?:(?:abstract|final)\s+)?(?P<kind>class|interface|trait|enum)\s+(?P<name>\w+)`),
			rule("function", `^function\s+&?(?P<name>\w+)`),
		},
		end: braceEnd(true), attach: slashComments, syntax: phpSyntax,
	},
	"swift": {
		rules: []lightRule{
			rule("", `^(?:(?:public|private|fileprivate|internal|open|final)\s+)*(?P<kind>class|struct|enum|protocol|extension|func)\s+(?P<name>\w+)`),
		},
		end: braceEnd(false), attach: slashComments, syntax: jvmSyntax,
	},
	"ruby": {
		rules: []lightRule{
			rule("method", `^def\s+(?P<name>[\w.?!=]+)`),
			rule("", `^(?P<kind>class|module)\s+(?P<name>[\w:]+)`),
		},
		end: keywordEnd, attach: hashComments, syntax: rubySyntax,
	},
	"lua": {
		rules: []lightRule{rule("function", `^(?:local\s+)?function\s+(?P<name>[\w.:]+)`)},
		end:   keywordEnd, attach: regexp.MustCompile(`^--`), syntax: luaSyntax,
	},
	"shell": {
		rules: []lightRule{
			rule("function", `^function\s+(?P<name>[\w:.-]+)`),
			rule("function", `^(?P<name>[A-Za-z_][\w:.-]*)\s*\(\)`),
		},
		end: braceEnd(true), attach: hashComments, syntax: shellSyntax,
	},
	"sql": sqlExtractor, "plpgsql": sqlExtractor, "plsql": sqlExtractor, "tsql": sqlExtractor, "sqlpl": sqlExtractor,
	"protocol buffer": {
		rules: []lightRule{rule("", `^(?P<kind>message|service|enum)\s+(?P<name>\w+)`)},
		end:   braceEnd(false), attach: slashComments, syntax: cSyntax,
	},
	"makefile": {
		rules: []lightRule{rule("target", `^(?P<name>[A-Za-z0-9_/%-][A-Za-z0-9_./%-]*)\s*::?(?:[^=]|$)`)},
		end:   indentEnd, attach: hashComments, syntax: hashSyntax,
	},
	"dockerfile": {
		rules: []lightRule{rule("stage", `(?i)^FROM\s+(?P<name>\S+(?:\s+AS\s+\S+)?)`)},
		end:   nextEnd, attach: hashComments, syntax: hashSyntax,
	},
	"vue": {
		// Single-file components: the top-level blocks, and the script's
		// definitions (which cut the script block short, as any later
		// definition does).
		rules: append([]lightRule{rule("block", `^<(?P<name>template|script|style)\b`)}, jsRules...),
		end:   tagEnd, attach: regexp.MustCompile(`^(//|<!--)`), syntax: jsSyntax,
	},
}

var sqlExtractor = &extractor{
	rules: []lightRule{
		rule("", `(?i)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?(?:TEMP(?:ORARY)?\s+)?(?P<kind>TABLE|MATERIALIZED\s+VIEW|VIEW|FUNCTION|PROCEDURE|TRIGGER|INDEX|SCHEMA|TYPE|SEQUENCE|ROLE|EXTENSION|DOMAIN|AGGREGATE|POLICY)\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[\w."$]+)`),
	},
	end: sqlEnd, attach: regexp.MustCompile(`^--`), reject: map[string]bool{"ON": true, "on": true},
	syntax: sqlSyntax,
}

var jsRules = []lightRule{
	rule("function", jsMods+`(?:async\s+)?function\s*\*?\s*(?P<name>[\w$]+)`),
	rule("class", jsMods+`(?:abstract\s+)?class\s+(?P<name>[\w$]+)`),
	rule("interface", jsMods+`interface\s+(?P<name>[\w$]+)`),
	rule("type", jsMods+`type\s+(?P<name>[\w$]+)\s*(?:<[^=]*>\s*)?=`),
	rule("enum", jsMods+`(?:const\s+)?enum\s+(?P<name>[\w$]+)`),
	rule("variable", `^(?:export\s+)?(?:const|let|var)\s+(?P<name>[\w$]+)`),
}

var jvmRules = []lightRule{
	rule("", `^(?:(?:public|private|protected|internal|abstract|final|static|sealed|open|data|partial|inner|enum|annotation|case)\s+)*(?P<kind>class|interface|enum|record|object|struct|trait)\s+(?P<name>\w+)`),
	rule("function", `^(?:(?:public|private|internal|inline|suspend|private|override)\s+)*(?:fun|def)\s+(?:<[^>]*>\s*)?(?:[\w.]+\.)?(?P<name>\w+)`),
}

var cRules = []lightRule{
	rule("", `^(?:typedef\s+)?(?P<kind>struct|union|enum|class|namespace)\s+(?P<name>\w+)\s*(?:[:{]|$)`),
	rule("macro", `^#\s*define\s+(?P<name>\w+)`),
	rule("function", `^(?:[A-Za-z_][\w\*&:<>, ]*[\s\*&])?(?P<name>[A-Za-z_][\w:~]*)\s*\([^;]*$`),
}

var cKeywords = map[string]bool{
	"if": true, "for": true, "while": true, "switch": true, "return": true, "else": true, "do": true,
	"sizeof": true, "typedef": true, "static_assert": true, "defined": true,
}

// parseLight runs the language's extractor; a language without one has no
// symbols (its chunks are cut by size alone).
func parseLight(language string, src []byte) *Parsed {
	p := &Parsed{}
	if language == "markdown" {
		p.Symbols, p.Decls = markdownSections(splitLines(src))
		return p
	}
	ex := extractors[language]
	if ex == nil {
		return p
	}
	lines := splitLines(src)
	code := make([]bool, len(lines))
	if ex.syntax != nil {
		code = codeStarts(ex.syntax, lines)
	} else {
		for i := range code {
			code[i] = true
		}
	}
	type hit struct {
		line int
		sym  Symbol
	}
	var hits []hit
	for i, line := range lines {
		if !code[i] {
			continue
		}
		for _, r := range ex.rules {
			m := r.re.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			s := Symbol{Kind: r.kind}
			for gi, g := range r.re.SubexpNames() {
				switch g {
				case "name":
					s.Name = strings.TrimSpace(m[gi])
				case "kind":
					s.Kind = strings.Join(strings.Fields(strings.ToLower(m[gi])), "_")
				}
			}
			if s.Name == "" || ex.reject[s.Name] {
				continue
			}
			if s.Kind == "mod" {
				s.Kind = "module"
			}
			hits = append(hits, hit{line: i, sym: s})
			break
		}
	}
	for k, h := range hits {
		end := ex.end(lines, h.line)
		if k+1 < len(hits) && end >= hits[k+1].line {
			end = hits[k+1].line - 1
		}
		end = trimBlankEnd(lines, h.line, end)
		s := h.sym
		s.Start, s.End = h.line+1, end+1
		p.Symbols = append(p.Symbols, s)
		start := h.line
		prevEnd := -1
		if k > 0 {
			prevEnd = p.Symbols[k-1].End - 1
		}
		for start-1 > prevEnd && ex.attach != nil && lines[start-1] != "" && ex.attach.MatchString(lines[start-1]) {
			start--
		}
		p.Decls = append(p.Decls, Decl{Label: s.Key(), Start: start + 1, End: end + 1})
	}
	return p
}

// trimBlankEnd moves end back over blank lines, not before start.
func trimBlankEnd(lines []string, start, end int) int {
	if end >= len(lines) {
		end = len(lines) - 1
	}
	for end > start && strings.TrimSpace(lines[end]) == "" {
		end--
	}
	return end
}

// indentEnd: the block goes on while lines are blank or indented.
func indentEnd(lines []string, i int) int {
	end := i
	for j := i + 1; j < len(lines); j++ {
		l := lines[j]
		if strings.TrimSpace(l) == "" {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' && l[0] != ')' && l[0] != ']' && l[0] != '}' {
			break
		}
		end = j
	}
	return end
}

// keywordEnd: the block ends at the first "end" at column 0.
func keywordEnd(lines []string, i int) int {
	for j := i + 1; j < len(lines); j++ {
		if lines[j] == "end" || strings.HasPrefix(lines[j], "end ") {
			return j
		}
	}
	return len(lines) - 1
}

// tagEnd: the block ends at the line that closes the tag it opens
// (`</script>` for `<script lang="ts">`).
func tagEnd(lines []string, i int) int {
	name := strings.TrimLeft(lines[i], "<")
	if j := strings.IndexAny(name, " \t>"); j >= 0 {
		name = name[:j]
	}
	for j := i; j < len(lines); j++ {
		if strings.HasPrefix(lines[j], "</"+name) {
			return j
		}
	}
	return len(lines) - 1
}

// nextEnd: the block goes on until the next definition.
func nextEnd(lines []string, _ int) int { return len(lines) - 1 }

// braceEnd: the block ends where the braces opened by the definition close,
// or at a ";" before any brace, or at a complete line followed by another
// top-level line. Comments and quoted strings on one line are skipped.
func braceEnd(hashIsComment bool) blockEnd {
	return func(lines []string, i int) int {
		depth, opened, inBlock := 0, false, false
		for j := i; j < len(lines); j++ {
			line := lines[j]
		scan:
			for k := 0; k < len(line); k++ {
				c := line[k]
				if inBlock {
					if c == '*' && k+1 < len(line) && line[k+1] == '/' {
						inBlock = false
						k++
					}
					continue
				}
				switch c {
				case '/':
					if k+1 < len(line) && line[k+1] == '/' {
						break scan
					}
					if k+1 < len(line) && line[k+1] == '*' {
						inBlock = true
						k++
					}
				case '#':
					if hashIsComment && (k == 0 || line[k-1] == ' ' || line[k-1] == '\t') {
						break scan
					}
				case '"', '\'', '`':
					if end := closingQuote(line, k); end > k {
						k = end
					}
				case '{':
					depth++
					opened = true
				case '}':
					depth--
					if opened && depth <= 0 {
						return j
					}
				case ';':
					if !opened && depth == 0 {
						return j
					}
				}
			}
			if !opened && depth == 0 && !continues(line) && j+1 < len(lines) && startsTopLevel(lines[j+1]) {
				return j
			}
		}
		return len(lines) - 1
	}
}

// closingQuote returns the index of the quote closing the one at k on the
// same line, or -1.
func closingQuote(line string, k int) int {
	q := line[k]
	for m := k + 1; m < len(line); m++ {
		switch line[m] {
		case '\\':
			m++
		case q:
			return m
		}
	}
	return -1
}

// continues reports whether a line obviously goes on on the next one.
func continues(line string) bool {
	t := strings.TrimSpace(line)
	if t == "" {
		return true
	}
	return strings.ContainsAny(t[len(t)-1:], "(,=+-*&|\\<[:?")
}

// startsTopLevel reports whether a line starts at column 0 with something
// other than an opening brace.
func startsTopLevel(line string) bool {
	return line != "" && line[0] != ' ' && line[0] != '\t' && line[0] != '{' && line[0] != ')'
}

// sqlEnd: the statement ends at the first ";" outside dollar quotes, string
// literals and -- comments.
func sqlEnd(lines []string, i int) int {
	tag := "" // the open dollar quote, if any
	for j := i; j < len(lines); j++ {
		line := lines[j]
		for k := 0; k < len(line); k++ {
			if tag != "" {
				if strings.HasPrefix(line[k:], tag) {
					k += len(tag) - 1
					tag = ""
				}
				continue
			}
			switch c := line[k]; {
			case c == '-' && strings.HasPrefix(line[k:], "--"):
				k = len(line)
			case c == '\'':
				if end := closingQuote(line, k); end > k {
					k = end
				}
			case c == '$':
				if m := dollarTag.FindString(line[k:]); m != "" {
					tag = m
					k += len(m) - 1
				}
			case c == ';':
				return j
			}
		}
	}
	return len(lines) - 1
}

var dollarTag = regexp.MustCompile(`^\$[A-Za-z_]*\$`)

var mdHeading = regexp.MustCompile(`^(#{1,6})\s+(.+?)\s*#*\s*$`)

// markdownSections: every heading outside a code fence is a section, which
// ends before the next heading of its level or higher; chunks are cut at
// every heading.
func markdownSections(lines []string) ([]Symbol, []Decl) {
	type head struct{ line, level int }
	var heads []head
	var syms []Symbol
	fence := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") || strings.HasPrefix(l, "~~~") {
			fence = !fence
			continue
		}
		if m := mdHeading.FindStringSubmatch(l); m != nil && !fence {
			heads = append(heads, head{i, len(m[1])})
			syms = append(syms, Symbol{Kind: "section", Name: m[2], Start: i + 1})
		}
	}
	var decls []Decl
	for k, h := range heads {
		end := len(lines) - 1
		for n := k + 1; n < len(heads); n++ {
			if heads[n].level <= h.level {
				end = heads[n].line - 1
				break
			}
		}
		syms[k].End = trimBlankEnd(lines, h.line, end) + 1
		next := len(lines) - 1
		if k+1 < len(heads) {
			next = heads[k+1].line - 1
		}
		decls = append(decls, Decl{Label: syms[k].Key(), Start: h.line + 1, End: trimBlankEnd(lines, h.line, next) + 1})
	}
	return syms, decls
}
