package ingest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Root checks the directory a user asked to ingest and returns its absolute
// path. An empty name is refused rather than taken as the current directory
// (an unset shell variable should not ingest whatever the command runs in).
func Root(dir string) (string, error) {
	if dir == "" {
		return "", errors.New(`no directory given ("" would be the current directory; pass "." to mean it)`)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("directory %q: %w", dir, err)
	}
	info, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("directory %q does not exist", dir)
	case err != nil:
		return "", err
	case !info.IsDir():
		return "", fmt.Errorf("%q is not a directory", dir)
	}
	return root, nil
}
