package ingest

// wildmatch reports whether name (one path segment) matches the glob
// pattern as git's wildmatch does for .gitignore patterns: '*' matches any
// bytes, '?' one byte, "[...]" one byte of a set ('!' or '^' first negates
// it; ranges "a-z"; classes "[:digit:]"; a ']' first is literal), and '\'
// quotes the next byte. path.Match differs where it matters: it reads "[!a]"
// as "'!' or 'a'", inverting every negated set. A malformed pattern matches
// nothing, as in git.
func wildmatch(pattern, name string) bool {
	p, s := pattern, name
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if wildmatch(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		case '[':
			if s == "" {
				return false
			}
			n, ok := matchSet(p, s[0])
			if n < 0 || !ok {
				return false
			}
			p, s = p[n:], s[1:]
		case '\\':
			if len(p) < 2 || s == "" || s[0] != p[1] {
				return false
			}
			p, s = p[2:], s[1:]
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}

// matchSet matches c against the set that opens p ("[..."). It returns the
// set's length in p and whether c is in it (after negation), or -1 when the
// set is malformed (not closed, or an unknown class).
func matchSet(p string, c byte) (int, bool) {
	i := 1
	negate := i < len(p) && (p[i] == '!' || p[i] == '^')
	if negate {
		i++
	}
	matched := false
	var prev byte
	hasPrev := false
	for first := true; ; first = false {
		if i >= len(p) {
			return -1, false
		}
		ch := p[i]
		if ch == ']' && !first {
			return i + 1, matched != negate
		}
		switch {
		case ch == '\\':
			i++
			if i >= len(p) {
				return -1, false
			}
			ch = p[i]
			matched = matched || c == ch
			prev, hasPrev = ch, true
		case ch == '-' && hasPrev && i+1 < len(p) && p[i+1] != ']':
			i++
			hi := p[i]
			if hi == '\\' {
				i++
				if i >= len(p) {
					return -1, false
				}
				hi = p[i]
			}
			matched = matched || (c >= prev && c <= hi)
			hasPrev = false
		case ch == '[' && i+1 < len(p) && p[i+1] == ':':
			end := i + 2
			for end < len(p) && p[end] != ']' {
				end++
			}
			if end >= len(p) {
				return -1, false
			}
			if p[end-1] != ':' || end-1 < i+2 {
				// Not a class: a literal '['.
				matched = matched || c == '['
				prev, hasPrev = '[', true
				break
			}
			in, ok := inClass(p[i+2:end-1], c)
			if !ok {
				return -1, false
			}
			matched = matched || in
			i, hasPrev = end, false
		default:
			matched = matched || c == ch
			prev, hasPrev = ch, true
		}
		i++
	}
}

// inClass reports whether c is in the POSIX class name (ASCII only, as in
// git); ok is false for an unknown class.
func inClass(name string, c byte) (in, ok bool) {
	lower, upper, digit := c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
	switch name {
	case "alnum":
		return lower || upper || digit, true
	case "alpha":
		return lower || upper, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 0x20 || c == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return c > ' ' && c < 0x7f, true
	case "lower":
		return lower, true
	case "print":
		return c >= ' ' && c < 0x7f, true
	case "punct":
		return c > ' ' && c < 0x7f && !lower && !upper && !digit, true
	case "space":
		return c == ' ' || (c >= '\t' && c <= '\r'), true
	case "upper":
		return upper, true
	case "xdigit":
		return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'), true
	}
	return false, false
}
