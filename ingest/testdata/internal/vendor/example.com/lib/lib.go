// Package lib is vendored third-party code.
package lib

// Vendored is never ingested.
func Vendored() {}
