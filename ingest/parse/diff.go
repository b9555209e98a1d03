package parse

// maxDiffEdits bounds the line diff's work (O((N+M)·D) time): past this many
// edits the counts are estimated from the lines' multisets instead.
const maxDiffEdits = 4000

// lineChanges counts the lines added and removed between two contents, as
// `diff` or `git diff --stat` would: the shortest edit script of line
// insertions and deletions (Myers' algorithm), a changed line being one
// removed and one added.
func LineChanges(old, cur []byte) (added, removed int) {
	a, b := splitLines(old), splitLines(cur)
	// Common prefix and suffix cost nothing and are the usual case.
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	if len(a) == 0 || len(b) == 0 {
		return len(b), len(a)
	}
	d := editDistance(a, b, maxDiffEdits)
	if d < 0 {
		return multisetChanges(a, b)
	}
	// d = added + removed, and added - removed = len(b) - len(a).
	added = (d + len(b) - len(a)) / 2
	return added, d - added
}

// editDistance is the length of the shortest insert/delete script turning a
// into b (Myers 1986), or -1 when it is longer than limit.
func editDistance(a, b []string, limit int) int {
	n, m := len(a), len(b)
	maxD := min(n+m, limit)
	v := make([]int, 2*maxD+2)
	off := maxD + 1
	for d := 0; d <= maxD; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return d
			}
		}
	}
	return -1
}

// multisetChanges estimates the counts for very different contents: lines of
// b not matched by an equal line of a are added, and the other way round.
func multisetChanges(a, b []string) (added, removed int) {
	count := make(map[string]int, len(a))
	for _, l := range a {
		count[l]++
	}
	for _, l := range b {
		if count[l] > 0 {
			count[l]--
		} else {
			added++
		}
	}
	for _, c := range count {
		removed += c
	}
	return added, removed
}
