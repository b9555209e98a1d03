package parse

import (
	"strings"
	"unicode/utf8"
)

// MaxChunkBytes caps a chunk's size: a definition larger than this is split
// at line boundaries (a single longer line at rune boundaries).
const MaxChunkBytes = 4096

// Chunk is one piece of a file: a byte range with its lines, and the
// definition it belongs to ("" for text between definitions).
type Chunk struct {
	Start  int    `json:"start"` // first line, from 1
	End    int    `json:"end"`   // last line
	From   int    `json:"from"`  // byte offset of the first byte
	To     int    `json:"to"`    // byte offset past the last byte
	Symbol string `json:"symbol,omitempty"`
}

// chunkFile is the chunk step: it cuts src along its top-level declarations
// (the text between two declarations is a chunk of its own; blank lines
// belong to no chunk) and splits any piece larger than maxBytes.
func Chunks(src []byte, decls []Decl, maxBytes int) []Chunk {
	lines := splitLines(src)
	if len(lines) == 0 {
		return nil
	}
	// offsets[i] is where line i (0-based) starts; offsets[len] is the end.
	offsets := make([]int, len(lines)+1)
	for i, l := range lines {
		offsets[i+1] = offsets[i] + len(l) + 1
	}
	offsets[len(lines)] = min(offsets[len(lines)], len(src))

	var out []Chunk
	emit := func(first, last int, label string) { // 0-based lines, inclusive
		for first <= last && strings.TrimSpace(lines[first]) == "" {
			first++
		}
		for last >= first && strings.TrimSpace(lines[last]) == "" {
			last--
		}
		if first > last {
			return
		}
		out = append(out, splitPiece(src, lines, offsets, first, last, label, maxBytes)...)
	}
	next := 0
	for _, d := range sortDecls(decls) {
		first, last := d.Start-1, min(d.End-1, len(lines)-1)
		if first < next || first > last {
			continue
		}
		emit(next, first-1, "")
		emit(first, last, d.Label)
		next = last + 1
	}
	emit(next, len(lines)-1, "")
	return out
}

// splitPiece returns lines first..last as chunks of at most maxBytes.
func splitPiece(src []byte, lines []string, offsets []int, first, last int, label string, maxBytes int) []Chunk {
	var out []Chunk
	start := first
	for start <= last {
		end := start
		for end+1 <= last && offsets[end+2]-offsets[start] <= maxBytes {
			end++
		}
		from, to := offsets[start], offsets[end]+len(lines[end]) // without the last newline
		if to-from <= maxBytes || end > start {
			out = append(out, Chunk{Start: start + 1, End: end + 1, From: from, To: to, Symbol: label})
		} else {
			// One line longer than the cap: cut it at rune boundaries.
			to = offsets[start] + len(lines[start])
			for from < to {
				cut := min(from+maxBytes, to)
				for cut < to && cut > from && !utf8.RuneStart(src[cut]) {
					cut--
				}
				out = append(out, Chunk{Start: start + 1, End: start + 1, From: from, To: cut, Symbol: label})
				from = cut
			}
		}
		start = end + 1
	}
	return out
}
