package ingest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A file name on Linux is any bytes but '/' and NUL; a path in the database
// (and in job args, which are JSON) is UTF-8 text. JSON would replace every
// invalid byte by U+FFFD, collapsing distinct names into one, so paths are
// escaped reversibly before they leave the walk: each byte that is not
// valid UTF-8 becomes \xHH and a backslash becomes \\. Every other name,
// which is nearly every name, is stored exactly as it is.

// EncodePath returns the stored form of a slash-separated relative path as
// the file system has it.
func EncodePath(raw string) string {
	if utf8.ValidString(raw) && !strings.Contains(raw, `\`) {
		return raw
	}
	var sb strings.Builder
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRuneInString(raw[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&sb, `\x%02x`, raw[i])
		case r == '\\':
			sb.WriteString(`\\`)
		default:
			sb.WriteString(raw[i : i+size])
		}
		i += size
	}
	return sb.String()
}

// DecodePath returns the path as the file system has it from its stored
// form (the inverse of EncodePath).
func DecodePath(stored string) (string, error) {
	if !strings.Contains(stored, `\`) {
		return stored, nil
	}
	var sb strings.Builder
	for i := 0; i < len(stored); i++ {
		c := stored[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		switch {
		case i+1 < len(stored) && stored[i+1] == '\\':
			sb.WriteByte('\\')
			i++
		case i+3 < len(stored) && stored[i+1] == 'x':
			b, err := strconv.ParseUint(stored[i+2:i+4], 16, 8)
			if err != nil {
				return "", fmt.Errorf("path %q: bad escape %q", stored, stored[i:i+4])
			}
			sb.WriteByte(byte(b))
			i += 3
		default:
			return "", fmt.Errorf("path %q: a lone backslash at byte %d", stored, i)
		}
	}
	return sb.String(), nil
}

// osPath is the file system path of a stored relative path under root.
func osPath(root, stored string) (string, error) {
	raw, err := DecodePath(stored)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(raw)), nil
}
