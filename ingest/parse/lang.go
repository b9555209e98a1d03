package parse

import (
	"bytes"
	"strings"

	"github.com/go-enry/go-enry/v2"
)

// Language returns a file's language as GitHub linguist names it (through
// go-enry), lower-cased: "go", "python", "c++", "plpgsql", "vue". It looks
// at the name, a #! line and editor modelines, and at the content when the
// name fits several languages; "" when it finds none. path is
// slash-separated.
func Language(path string, content []byte) string {
	return strings.ToLower(enry.GetLanguage(base(path), content))
}

// Vendored reports whether linguist takes path for third-party code
// (vendor/, node_modules/, testdata/, minified files, ...). A directory's
// path must end in "/".
func Vendored(path string) bool { return enry.IsVendor(path) }

// Generated reports whether linguist takes the file for generated code
// ("Code generated ... DO NOT EDIT.", lock files, minified code, ...).
func Generated(path string, content []byte) bool { return enry.IsGenerated(path, content) }

func base(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// CountLines counts lines; a last line without a newline counts.
func CountLines(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}
