package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode/utf8"

	"github.com/htdag/htdag/ingest/parse"
)

// DefaultMaxFileSize is the largest file stored unless --max-file-size says
// otherwise: larger files are generated or data, not code to read.
const DefaultMaxFileSize = 1 << 20

// Skip reasons. A file with a skip reason goes through the rest of its chain
// without work; "unchanged" is the one skip that keeps the file current.
const (
	SkipUnchanged = "unchanged"
)

// statFile is the stat step: the file must still exist, be a regular file
// (symlinks are not followed) and be at most maxSize bytes. It returns the
// size, or a reason to skip the file.
func statFile(root, rel string, maxSize int64) (size int64, skip string, err error) {
	p, err := osPath(root, rel)
	if err != nil {
		return 0, "", err
	}
	info, err := os.Lstat(p)
	if skip := unreadable(err); skip != "" {
		return 0, skip, nil
	}
	switch {
	case err != nil:
		return 0, "", err
	case info.Mode()&fs.ModeSymlink != 0:
		return 0, "a symlink", nil
	case !info.Mode().IsRegular():
		return 0, "not a regular file (" + info.Mode().Type().String() + ")", nil
	case info.Size() > maxSize:
		return info.Size(), fmt.Sprintf("larger than %d bytes", maxSize), nil
	}
	return info.Size(), "", nil
}

// Skip reasons of files that cannot be read: retrying would not help.
const (
	SkipGone = "gone before it was read"
	// SkipUnreadable is followed by the system's reason, e.g.
	// "unreadable: permission denied".
	SkipUnreadable = "unreadable: "
)

// unreadable returns why a file cannot be read, when err (from stat, open or
// read) says it is gone or may not be read; "" for other errors (which may
// pass: too many open files, an I/O error) and for nil.
func unreadable(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, fs.ErrNotExist):
		return SkipGone
	case errors.Is(err, fs.ErrPermission):
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return SkipUnreadable + err.Error()
	}
	return ""
}

// readFile reads a file of at most maxSize bytes.
func readFile(root, rel string, maxSize int64) ([]byte, error) {
	p, err := osPath(root, rel)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxSize {
		return nil, fmt.Errorf("%s grew past %d bytes while being ingested", rel, maxSize)
	}
	return data, nil
}

// hashContent is the content hash kept with every file version.
func hashContent(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// validation is what the validate step learns from a file's content.
type validation struct {
	skip string // why the file is not stored ("" when it is)
	hash string
}

// Skip reasons of the validate and detect steps.
const (
	SkipVendored   = "vendored"
	SkipEmpty      = "empty"
	SkipBinary     = "binary"
	SkipGenerated  = "generated"
	SkipNoLanguage = "no language detected"
)

// validateContent is the validate step's rules, in order: ignored by a
// .gitignore, vendored (linguist's list: vendor/, node_modules/, testdata/,
// minified files, ...), not empty (only whitespace), not binary (a NUL byte,
// or not UTF-8), not generated (linguist's rules: "Code generated ... DO NOT
// EDIT.", lock files, ...). ignoredBy is the walk's verdict (the .gitignore
// rule, or "").
func validateContent(rel, ignoredBy string, data []byte) validation {
	var v validation
	switch {
	case ignoredBy != "":
		v.skip = "ignored by " + ignoredBy
	case parse.Vendored(rel):
		v.skip = SkipVendored
	case len(bytes.TrimSpace(data)) == 0:
		v.skip = SkipEmpty
	case bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data):
		v.skip = SkipBinary
	case parse.Generated(rel, data):
		v.skip = SkipGenerated
	default:
		v.hash = hashContent(data)
	}
	return v
}
