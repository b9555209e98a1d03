package parse

import "strings"

// syntax is what the light extractor needs to know of a language's lexical
// rules to tell code from comments and string literals: a definition
// pattern must only match a line that starts in code, not one inside a
// docstring, a template literal, a block comment or a function body quoted
// with dollars.
type syntax struct {
	line  []string    // line comment openers
	block [][2]string // block comment delimiters
	// quotes are string delimiters, longest first where one is a prefix of
	// another ("\"\"\"" before "\"").
	quotes []quote
	// dollar: $tag$ ... $tag$ quoting (PostgreSQL).
	dollar bool
	// hashAtWord: '#' opens a comment only at the start of a word (shell:
	// not in $# or a#b).
	hashAtWord bool
}

type quote struct {
	delim     string
	multiline bool // may span lines (else it ends at the line's end)
	escapes   bool // a backslash quotes the next byte
}

var (
	cQuotes      = []quote{{`"`, false, true}, {`'`, false, true}}
	cSyntax      = &syntax{line: []string{"//"}, block: [][2]string{{"/*", "*/"}}, quotes: cQuotes}
	jsSyntax     = &syntax{line: []string{"//"}, block: [][2]string{{"/*", "*/"}}, quotes: append([]quote{{"`", true, true}}, cQuotes...)}
	jvmSyntax    = &syntax{line: []string{"//"}, block: [][2]string{{"/*", "*/"}}, quotes: append([]quote{{`"""`, true, false}}, cQuotes...)}
	hashSyntax   = &syntax{line: []string{"#"}}
	pythonSyntax = &syntax{line: []string{"#"}, quotes: append([]quote{{`"""`, true, true}, {`'''`, true, true}}, cQuotes...)}
	// Rust: strings span lines; a quote is also a lifetime ('a), so it is
	// not a delimiter.
	cSyntaxMultiline = &syntax{line: []string{"//"}, block: [][2]string{{"/*", "*/"}}, quotes: []quote{{`"`, true, true}}}
	phpSyntax        = &syntax{line: []string{"//", "#"}, block: [][2]string{{"/*", "*/"}}, quotes: []quote{{`"`, true, true}, {`'`, true, true}}}
	rubySyntax       = &syntax{line: []string{"#"}, quotes: []quote{{`"`, true, true}, {`'`, true, true}}}
	shellSyntax      = &syntax{line: []string{"#"}, quotes: []quote{{`"`, true, true}, {`'`, true, false}}, hashAtWord: true}
	luaSyntax        = &syntax{line: []string{"--"}, block: [][2]string{{"--[[", "]]"}, {"[[", "]]"}}, quotes: cQuotes}
	sqlSyntax        = &syntax{line: []string{"--"}, block: [][2]string{{"/*", "*/"}}, quotes: []quote{{`'`, true, false}, {`"`, true, false}}, dollar: true}
)

// codeStarts reports, for each of lines, whether it starts in code (not
// inside a comment or a string literal opened on an earlier line).
func codeStarts(sx *syntax, lines []string) []bool {
	out := make([]bool, len(lines))
	var open *quote   // the string literal open at the end of a line
	var closer string // the block comment or dollar quote open, by its closing text
	for i, line := range lines {
		out[i] = open == nil && closer == ""
		k := 0
	scan:
		for k < len(line) {
			switch {
			case closer != "":
				j := strings.Index(line[k:], closer)
				if j < 0 {
					break scan
				}
				k += j + len(closer)
				closer = ""
			case open != nil:
				j := k
				for ; j < len(line); j++ {
					if open.escapes && line[j] == '\\' {
						j++
						continue
					}
					if strings.HasPrefix(line[j:], open.delim) {
						break
					}
				}
				if j >= len(line) {
					break scan
				}
				k = j + len(open.delim)
				open = nil
			default:
				if c := sx.comment(line, k); c != "" {
					if c == "\n" {
						break scan // a line comment: code again on the next line
					}
					closer = c
					k += 2
					continue
				}
				if q := sx.quoteAt(line, k); q != nil {
					open = q
					k += len(q.delim)
					continue
				}
				if sx.dollar && line[k] == '$' {
					if tag := dollarTag.FindString(line[k:]); tag != "" {
						closer = tag
						k += len(tag)
						continue
					}
				}
				k++
			}
		}
		if open != nil && !open.multiline {
			open = nil
		}
	}
	return out
}

// comment returns what closes a comment opening at line[k:]: "\n" for a
// line comment, the closing delimiter for a block comment, "" for none.
func (sx *syntax) comment(line string, k int) string {
	for _, bc := range sx.block { // first: Lua's "--[[" is not a line comment
		if strings.HasPrefix(line[k:], bc[0]) {
			return bc[1]
		}
	}
	for _, lc := range sx.line {
		if strings.HasPrefix(line[k:], lc) {
			if lc == "#" && sx.hashAtWord && k > 0 && line[k-1] != ' ' && line[k-1] != '\t' {
				continue
			}
			return "\n"
		}
	}
	return ""
}

func (sx *syntax) quoteAt(line string, k int) *quote {
	for i := range sx.quotes {
		if strings.HasPrefix(line[k:], sx.quotes[i].delim) {
			return &sx.quotes[i]
		}
	}
	return nil
}
