package main

import (
	"io"

	"github.com/htdag/htdag/internal/render"
)

// writeJSON and isTerminal are the names ingest.go uses for render's output
// helpers; they go when ingest.go moves to the ingest app (issue 10, part 4)
// or calls render itself.
func writeJSON(w io.Writer, v any) error { return render.JSON(w, v) }
func isTerminal(w io.Writer) bool        { return render.IsTerminal(w) }
