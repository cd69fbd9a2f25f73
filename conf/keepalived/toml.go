package keepalived

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// entry is one key of a TOML table, its value already in TOML syntax.
type entry struct {
	key     string
	value   string
	comment string // where it comes from: "FILE:LINE keyword"
	off     bool   // written commented out: a suggestion, not in effect
}

// table is a TOML table header with its keys.
type table struct {
	before  []string // comment lines above the header
	header  string   // "[[service]]", "  [service.check]"
	comment string
	entries []entry
}

func (t *table) add(key, value, comment string) {
	t.entries = append(t.entries, entry{key: key, value: value, comment: comment})
}

// suggest adds a commented-out key: what the operator may want instead of
// something that was not converted.
func (t *table) suggest(key, value, comment string) {
	t.entries = append(t.entries, entry{key: key, value: value, comment: comment, off: true})
}

// commentColumn is where trailing comments start, when the text before
// them is shorter.
const commentColumn = 36

// write renders t; indent prefixes the header and the keys.
func (t *table) write(b *strings.Builder, indent string) {
	for _, c := range t.before {
		b.WriteString(indent + "# " + c + "\n")
	}
	writeLine(b, indent+t.header, t.comment)
	for _, e := range t.entries {
		text := indent + e.key + " = " + e.value
		if e.off {
			text = indent + "# " + e.key + " = " + e.value
		}
		writeLine(b, text, e.comment)
	}
}

func writeLine(b *strings.Builder, text, comment string) {
	b.WriteString(text)
	if comment != "" {
		pad := commentColumn - len(text)
		if pad < 1 {
			pad = 1
		}
		b.WriteString(strings.Repeat(" ", pad) + "# " + oneLine(comment))
	}
	b.WriteString("\n")
}

// oneLine keeps a comment on its line whatever the keepalived text held.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// tomlString quotes s as a TOML basic string. Lexing guarantees valid
// UTF-8; an invalid byte would become U+FFFD.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlInt(n int64) string { return strconv.FormatInt(n, 10) }

func tomlBool(v bool) string { return strconv.FormatBool(v) }

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func tomlInts(ns []int) string {
	q := make([]string, len(ns))
	for i, n := range ns {
		q[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
