// Package util has string helpers.
package util

import "strings"

// Title upper-cases the first letter.
func Title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Reverse reverses s byte by byte.
func Reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// Pair is two strings.
type Pair[T any] struct {
	A, B T
}

// Swap swaps the pair.
func (p Pair[T]) Swap() Pair[T] { return Pair[T]{A: p.B, B: p.A} }
