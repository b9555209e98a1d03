// Package parse is the text analysis behind code ingestion (package ingest):
// a file's language, its definitions (Go with go/parser, other languages
// with a line-based extractor), its chunks, and the lines changed between
// two contents. It reads no files and imports no database package: every
// function takes the bytes it works on.
package parse
