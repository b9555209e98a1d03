package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"
)

// This file holds what every output of htdag's commands shares: JSON for
// scripts, terminal detection and width, escaping of text read from the
// database, and the cell and table layout of the text output.

// JSON writes v as indented JSON: the --json output of every command. C1
// control and bidirectional formatting characters in strings are written as
// \uXXXX escapes (encoding/json already escapes the C0 ones), so the
// document decodes to the same values and cannot drive a terminal either.
func JSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(w, escape(b.String(), true))
	return err
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Width is the width in columns of the terminal w writes to; when w is not
// one, $COLUMNS if set, else 0 (unknown).
func Width(w io.Writer) int {
	if f, ok := w.(*os.File); ok && IsTerminal(w) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

// Clean makes text read from the database (run names, node ids, kinds,
// errors, outputs) safe to print on a terminal: control characters (C0,
// DEL, C1, line and paragraph separators) and bidirectional formatting
// characters become \uXXXX escapes, bytes that are not UTF-8 \xNN escapes.
// Whoever starts a run cannot move the operator's cursor, repaint the
// screen or reorder what it shows. Clean changes no other text, and
// cleaning twice changes nothing more; valid JSON stays valid JSON.
func Clean(s string) string { return escape(s, false) }

// escape is Clean, leaving newlines alone when keepNewlines (the lines of
// an indented JSON document).
func escape(s string, keepNewlines bool) string {
	unsafe := func(r rune) bool { return unsafeRune(r) && !(keepNewlines && r == '\n') }
	if utf8.ValidString(s) && strings.IndexFunc(s, unsafe) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether a terminal may act on r rather than show it.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// maxLineRunes caps a line when the output's width is unknown (a pipe):
// long enough for most errors, short enough for a grep or a pager. --json
// has them whole.
const maxLineRunes = 240

// cell is s from the database as one table cell: on one line, cleaned and
// cut to at most n runes (n <= 0: not cut).
func cell(s string, n int) string {
	s = Clean(strings.Join(strings.Fields(s), " "))
	if n <= 0 {
		return s
	}
	return truncateRunes(s, n)
}

// fitLine cuts a line to width runes (0: to maxLineRunes), marking the cut.
func fitLine(s string, width int) string {
	if width <= 0 {
		width = maxLineRunes
	}
	// Keep at least some of the detail on very narrow terminals.
	return truncateRunes(s, max(width, 40))
}

// truncateRunes cuts s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func pad(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// compactJSON prints JSON on one line ("" for none or null).
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// alignment says how writeTable aligns a table's columns.
type alignment int

const (
	alignLeft    alignment = iota // every column left-aligned
	alignNumbers                  // the first column left, the others (numbers) right
)

// writeTable prints rows in columns two spaces apart, every cell cleaned
// (see Clean) and measured in runes.
func writeTable(w io.Writer, rows [][]string, align alignment) error {
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(Clean(c)))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		var line strings.Builder
		for i, c := range row {
			c = Clean(c)
			if i > 0 {
				line.WriteString("  ")
			}
			if i > 0 && align == alignNumbers {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + c)
			} else {
				line.WriteString(pad(c, widths[i]))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
