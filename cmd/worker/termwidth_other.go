//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package main

import "io"

// terminalWidth is 0 (unknown) where the width is not read.
func terminalWidth(io.Writer) int { return 0 }
