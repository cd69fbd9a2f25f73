package conf

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds a small, tolerant TOML scanner whose only job is to find the
// line on which a field is defined. BurntSushi/toml reports positions for
// syntax errors but exposes none for individual keys, and its internal key
// positions do not distinguish the elements of an array of tables.
//
// The scanner is only ever used on input the TOML library already accepted,
// but it must not panic or loop on anything else either (see FuzzParse).

// pathElem is one step of a field path: a key, or an index into an array.
type pathElem struct {
	key     string
	index   int
	isIndex bool
}

// fieldPath names a value in the document, e.g. service[0].backend[1].weight.
type fieldPath []pathElem

// key returns a copy of p extended by key k.
func (p fieldPath) key(k string) fieldPath {
	q := make(fieldPath, len(p), len(p)+1)
	copy(q, p)
	return append(q, pathElem{key: k})
}

// keys returns a copy of p extended by all of ks.
func (p fieldPath) keys(ks ...string) fieldPath {
	q := make(fieldPath, len(p), len(p)+len(ks))
	copy(q, p)
	for _, k := range ks {
		q = append(q, pathElem{key: k})
	}
	return q
}

// idx returns a copy of p extended by array index i.
func (p fieldPath) idx(i int) fieldPath {
	q := make(fieldPath, len(p), len(p)+1)
	copy(q, p)
	return append(q, pathElem{index: i, isIndex: true})
}

// last returns the last key of p (ignoring trailing indices).
func (p fieldPath) last() string {
	for i := len(p) - 1; i >= 0; i-- {
		if !p[i].isIndex {
			return p[i].key
		}
	}
	return ""
}

// String renders p the way errors show it: keys joined by dots, indices in
// brackets, keys that are not bare TOML keys double-quoted.
func (p fieldPath) String() string {
	var b strings.Builder
	for i, e := range p {
		if e.isIndex {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.index))
			b.WriteByte(']')
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteKey(e.key))
	}
	return b.String()
}

// quoteKey returns k as written in a TOML document: bare if possible,
// otherwise as a double-quoted string.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBareKeyByte(k[i]) || k[i] >= utf8.RuneSelf {
			return strconv.Quote(k)
		}
	}
	return k
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c >= utf8.RuneSelf
}

// parsePath parses the String form of a fieldPath. It is lenient: whatever
// it cannot parse ends up as part of a key.
func parsePath(s string) fieldPath {
	var p fieldPath
	i := 0
	for i < len(s) {
		switch c := s[i]; {
		case c == '.':
			i++
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j > 1 {
				if n, err := strconv.Atoi(s[i+1 : i+j]); err == nil && n >= 0 {
					p = p.idx(n)
					i += j + 1
					continue
				}
			}
			p = p.key(s[i:])
			i = len(s)
		case c == '"':
			// Find the closing quote, honouring backslash escapes.
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j < len(s) {
				if k, err := strconv.Unquote(s[i : j+1]); err == nil {
					p = p.key(k)
					i = j + 1
					continue
				}
			}
			p = p.key(s[i:])
			i = len(s)
		default:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			p = p.key(s[i:j])
			i = j
		}
	}
	return p
}

// locator maps rendered field paths to the line of their definition.
type locator struct {
	lines map[string]int
}

// set records line for p and for each of its prefixes not yet known, so an
// implicitly created table points at its first mention.
func (l *locator) set(p fieldPath, line int) {
	for n := 1; n <= len(p); n++ {
		k := p[:n].String()
		if _, ok := l.lines[k]; !ok {
			l.lines[k] = line
		}
	}
}

// line returns the line where p is defined. When p itself is not in the
// document it falls back to the closest enclosing table or array that is,
// then to line 1. It returns 0 (unknown) only for a nil locator.
func (l *locator) line(p fieldPath) int {
	if l == nil {
		return 0
	}
	for n := len(p); n > 0; n-- {
		if ln, ok := l.lines[p[:n].String()]; ok {
			return ln
		}
	}
	return 1
}

// exact reports the line of p only if p itself appears in the document.
func (l *locator) exact(p fieldPath) (int, bool) {
	if l == nil {
		return 0, false
	}
	ln, ok := l.lines[p.String()]
	return ln, ok
}

// maxDepth bounds nesting of arrays and inline tables in the scanner.
const maxDepth = 64

type scanner struct {
	src    []byte
	pos    int
	line   int
	loc    *locator
	arrays map[string]int // array-of-tables path -> number of [[headers]] seen
}

// newLocator scans src and records where every key, table header and array
// element begins.
func newLocator(src []byte) *locator {
	s := &scanner{
		src:    src,
		line:   1,
		loc:    &locator{lines: make(map[string]int)},
		arrays: make(map[string]int),
	}
	if len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF {
		s.pos = 3 // UTF-8 byte order mark
	}
	var table fieldPath // current [table] or [[array]] element
	for {
		s.skipSpace(true)
		if s.pos >= len(s.src) {
			break
		}
		start, line := s.pos, s.line
		if s.src[s.pos] == '[' {
			table = s.header(line)
		} else if keys, ok := s.keyParts(); ok && s.peek() == '=' {
			s.pos++
			p := table.keys(keys...)
			s.loc.set(p, line)
			s.value(p, 0)
		}
		s.skipLine()
		if s.pos == start {
			s.pos++
		}
	}
	return s.loc
}

func (s *scanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func (s *scanner) hasPrefix(p string) bool {
	return len(s.src)-s.pos >= len(p) && string(s.src[s.pos:s.pos+len(p)]) == p
}

// skipSpace skips blanks; with newlines it also skips line breaks and comments.
func (s *scanner) skipSpace(newlines bool) {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t':
			s.pos++
		case '\r', '\n', '#':
			if !newlines {
				return
			}
			if s.src[s.pos] == '#' {
				s.skipLine()
				continue
			}
			if s.src[s.pos] == '\n' {
				s.line++
			}
			s.pos++
		default:
			return
		}
	}
}

// skipLine advances to the next line break without consuming it.
func (s *scanner) skipLine() {
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
}

// header parses a [table] or [[array.of.tables]] header and returns the
// resolved path of the table it opens.
func (s *scanner) header(line int) fieldPath {
	s.pos++ // '['
	array := false
	if s.peek() == '[' {
		array = true
		s.pos++
	}
	keys, ok := s.keyParts()
	if !ok || len(keys) == 0 {
		return nil
	}
	var p fieldPath
	for i, k := range keys {
		p = p.key(k)
		ps := p.String()
		if array && i == len(keys)-1 {
			n := s.arrays[ps]
			s.arrays[ps] = n + 1
			p = p.idx(n)
		} else if n, ok := s.arrays[ps]; ok {
			// A parent that is an array of tables means its latest element.
			p = p.idx(n - 1)
		}
	}
	s.loc.set(p, line)
	return p
}

// keyParts parses a possibly dotted, possibly quoted key.
func (s *scanner) keyParts() ([]string, bool) {
	var parts []string
	for {
		s.skipSpace(false)
		if s.pos >= len(s.src) {
			return parts, false
		}
		var k string
		switch c := s.src[s.pos]; {
		case c == '"':
			var ok bool
			if k, ok = s.basicString(); !ok {
				return parts, false
			}
		case c == '\'':
			var ok bool
			if k, ok = s.literalString(); !ok {
				return parts, false
			}
		case isBareKeyByte(c):
			start := s.pos
			for s.pos < len(s.src) && isBareKeyByte(s.src[s.pos]) {
				s.pos++
			}
			k = string(s.src[start:s.pos])
		default:
			return parts, false
		}
		parts = append(parts, k)
		s.skipSpace(false)
		if s.peek() != '.' {
			return parts, true
		}
		s.pos++
	}
}

// basicString reads a single-line "..." string and decodes its escapes.
func (s *scanner) basicString() (string, bool) {
	s.pos++ // opening quote
	var b strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch c {
		case '"':
			s.pos++
			return b.String(), true
		case '\n':
			return b.String(), false
		case '\\':
			s.pos++
			s.escape(&b)
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
	return b.String(), false
}

// escape decodes the escape sequence after a backslash (already consumed).
func (s *scanner) escape(b *strings.Builder) {
	if s.pos >= len(s.src) {
		return
	}
	c := s.src[s.pos]
	s.pos++
	var digits int
	switch c {
	case 'b':
		b.WriteByte('\b')
		return
	case 't':
		b.WriteByte('\t')
		return
	case 'n':
		b.WriteByte('\n')
		return
	case 'f':
		b.WriteByte('\f')
		return
	case 'r':
		b.WriteByte('\r')
		return
	case 'e':
		b.WriteByte(0x1b)
		return
	case '"', '\\':
		b.WriteByte(c)
		return
	case 'x':
		digits = 2
	case 'u':
		digits = 4
	case 'U':
		digits = 8
	}
	if digits > 0 && len(s.src)-s.pos >= digits {
		if n, err := strconv.ParseUint(string(s.src[s.pos:s.pos+digits]), 16, 32); err == nil {
			s.pos += digits
			b.WriteRune(rune(n))
			return
		}
	}
	if c == '\n' {
		s.pos-- // let the caller count the line break
		return
	}
	b.WriteByte('\\')
	b.WriteByte(c)
}

// literalString reads a single-line '...' string.
func (s *scanner) literalString() (string, bool) {
	s.pos++
	start := s.pos
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case '\'':
			s.pos++
			return string(s.src[start : s.pos-1]), true
		case '\n':
			return string(s.src[start:s.pos]), false
		}
		s.pos++
	}
	return string(s.src[start:]), false
}

// multiline skips a multi-line basic or literal string (triple quotes),
// counting its lines.
func (s *scanner) multiline(q byte) {
	delim := strings.Repeat(string(q), 3)
	s.pos += 3
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\n':
			s.line++
			s.pos++
		case c == '\\' && q == '"':
			s.pos++
			if s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++ // the newline itself is counted by the loop
			}
		case s.hasPrefix(delim):
			s.pos += 3
			// Up to two quotes right before the delimiter belong to the content.
			for i := 0; i < 2 && s.peek() == q; i++ {
				s.pos++
			}
			return
		default:
			s.pos++
		}
	}
}

// value skips one value, recording the lines of array elements and inline
// table keys under p.
func (s *scanner) value(p fieldPath, depth int) {
	s.skipSpace(false)
	if s.pos >= len(s.src) {
		return
	}
	switch c := s.src[s.pos]; {
	case s.hasPrefix(`"""`):
		s.multiline('"')
	case s.hasPrefix(`'''`):
		s.multiline('\'')
	case c == '"':
		s.basicString()
	case c == '\'':
		s.literalString()
	case c == '[' && depth < maxDepth:
		s.array(p, depth)
	case c == '{' && depth < maxDepth:
		s.inlineTable(p, depth)
	default:
		// Numbers, booleans, dates: up to the next delimiter.
		for s.pos < len(s.src) && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.pos])) {
			s.pos++
		}
	}
}

func (s *scanner) array(p fieldPath, depth int) {
	s.pos++ // '['
	for i := 0; s.pos < len(s.src); {
		s.skipSpace(true)
		if s.pos >= len(s.src) {
			return
		}
		switch s.src[s.pos] {
		case ']':
			s.pos++
			return
		case ',':
			s.pos++
			continue
		}
		start := s.pos
		q := p.idx(i)
		s.loc.set(q, s.line)
		s.value(q, depth+1)
		i++
		if s.pos == start {
			s.pos++
		}
	}
}

func (s *scanner) inlineTable(p fieldPath, depth int) {
	s.pos++ // '{'
	for s.pos < len(s.src) {
		s.skipSpace(true)
		if s.pos >= len(s.src) {
			return
		}
		switch s.src[s.pos] {
		case '}':
			s.pos++
			return
		case ',':
			s.pos++
			continue
		}
		start, line := s.pos, s.line
		if keys, ok := s.keyParts(); ok && s.peek() == '=' {
			s.pos++
			q := p.keys(keys...)
			s.loc.set(q, line)
			s.value(q, depth+1)
		}
		if s.pos == start {
			s.pos++
		}
	}
}
