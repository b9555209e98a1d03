package parse

import (
	"bytes"
	"path"
	"strings"
)

// extLanguages maps allowed extensions to languages; a file whose extension
// is not here (and that is not in nameLanguages, nor a script with a #!
// line) is skipped.
var extLanguages = map[string]string{
	".go": "go", ".py": "python", ".pyi": "python",
	".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
	".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
	".rs": "rust", ".java": "java", ".kt": "kotlin", ".kts": "kotlin", ".scala": "scala",
	".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
	".cs": "csharp", ".rb": "ruby", ".php": "php", ".swift": "swift", ".lua": "lua",
	".sh": "shell", ".bash": "shell", ".zsh": "shell",
	".sql": "sql", ".proto": "protobuf", ".graphql": "graphql",
	".md": "markdown", ".markdown": "markdown", ".rst": "text", ".txt": "text",
	".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml", ".ini": "ini",
	".html": "html", ".css": "css", ".scss": "css", ".tf": "terraform",
}

// nameLanguages are allowed files known by their whole name.
var nameLanguages = map[string]string{
	"Makefile": "makefile", "GNUmakefile": "makefile", "makefile": "makefile",
	"Dockerfile": "dockerfile", "go.mod": "gomod", "go.work": "gomod",
}

// shebangLanguages maps a #! interpreter to a language.
var shebangLanguages = map[string]string{
	"sh": "shell", "bash": "shell", "zsh": "shell", "dash": "shell", "ksh": "shell",
	"python": "python", "python3": "python", "node": "javascript", "ruby": "ruby", "perl": "perl",
}

// AllowedName reports whether a file's name is on the allow-list on its own.
func AllowedName(rel string) bool {
	base := path.Base(rel)
	if nameLanguages[base] != "" {
		return true
	}
	return extLanguages[strings.ToLower(path.Ext(base))] != ""
}

// Language is the detect step: by whole name, then extension, then the
// interpreter of a #! line.
func Language(rel, shebang string) string {
	base := path.Base(rel)
	if lang := nameLanguages[base]; lang != "" {
		return lang
	}
	if lang := extLanguages[strings.ToLower(path.Ext(base))]; lang != "" {
		return lang
	}
	if fields := strings.Fields(strings.TrimPrefix(shebang, "#!")); len(fields) > 0 {
		interp := path.Base(fields[0])
		if interp == "env" && len(fields) > 1 {
			interp = fields[1]
			if interp == "-S" && len(fields) > 2 {
				interp = fields[2]
			}
		}
		interp = strings.TrimRight(interp, "0123456789.")
		if lang := shebangLanguages[interp]; lang != "" {
			return lang
		}
		if lang := shebangLanguages[interp+"3"]; lang != "" {
			return lang
		}
	}
	return "text"
}

// CountLines counts lines; a last line without a newline counts.
func CountLines(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}
