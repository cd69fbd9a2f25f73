package keepalived

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a token of a keepalived file.
type tokKind uint8

const (
	tokWord  tokKind = iota + 1 // a keyword or an argument, quotes removed
	tokOpen                     // {
	tokClose                    // }
	tokEOL                      // end of a (logical) line: a statement ends here
)

type token struct {
	kind tokKind
	text string // tokWord only
	line int
}

// lex splits a keepalived file into tokens. keepalived reads a file line
// by line: a statement is one line, "{" and "}" outside quotes split a
// line wherever they are (so `url { path / }` is the statement "path /"
// inside the block "url"), "#" and "!" outside quotes start a comment
// anywhere ("\#" and "\!" are the characters themselves), a line ending
// in "\" continues on the next one, and a quoted string (" or ') is part
// of its word with its quotes removed.
//
// What keepalived would expand before parsing is refused rather than
// misread: conditional lines (@config-id), parameter definitions
// ($NAME=...) and sequences (~SEQ).
func lex(file string, data []byte) ([]token, error) {
	var toks []token
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSuffix(lines[i], "\r")
		// Continuation lines join the statement they continue; its line
		// number is the first one's.
		for endsInBackslash(line) {
			line = line[:len(line)-1]
			if i+1 == len(lines) {
				break
			}
			i++
			line += " " + strings.TrimSuffix(lines[i], "\r")
		}
		lt, err := lexLine(line, lineNo)
		if err != nil {
			return nil, &Error{Pos: Pos{file, lineNo}, Msg: err.Error()}
		}
		toks = append(toks, lt...)
		toks = append(toks, token{kind: tokEOL, line: lineNo})
	}
	return toks, nil
}

// endsInBackslash reports whether line ends in an unescaped backslash
// outside a comment and outside quotes: keepalived's line continuation.
func endsInBackslash(line string) bool {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' || c == '!':
			return false
		case c == '\\':
			if i == len(line)-1 {
				return true
			}
			i++
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' }

// lexLine splits one logical line into words and braces.
func lexLine(line string, lineNo int) ([]token, error) {
	trimmed := strings.TrimLeft(line, " \t")
	switch {
	case strings.HasPrefix(trimmed, "@"):
		return nil, fmt.Errorf("conditional configuration (%s) is not supported: keep the lines of this balancer and remove the @ prefixes", firstWord(trimmed))
	case strings.HasPrefix(trimmed, "~SEQ"):
		return nil, fmt.Errorf("~SEQ sequences are not supported: expand them first")
	case isDefinition(trimmed):
		return nil, fmt.Errorf("parameter definitions (%s) are not supported: substitute the parameters first", firstWord(trimmed))
	}
	// keepalived reads an include line before it splits lines at braces:
	// its pattern may hold csh braces.
	include := isInclude(firstWord(trimmed))
	var toks []token
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case isSpace(c):
			i++
			continue
		case c == '#' || c == '!':
			return toks, nil
		case include:
		case c == '{':
			toks = append(toks, token{kind: tokOpen, line: lineNo})
			i++
			continue
		case c == '}':
			toks = append(toks, token{kind: tokClose, line: lineNo})
			i++
			continue
		}
		word, next, comment, err := lexWord(line, i, !include)
		if err != nil {
			return nil, err
		}
		if !utf8.ValidString(word) {
			return nil, fmt.Errorf("%q is not valid UTF-8", word)
		}
		toks = append(toks, token{kind: tokWord, text: word, line: lineNo})
		if comment {
			return toks, nil
		}
		i = next
	}
	return toks, nil
}

// lexWord reads the word starting at line[i], which braces end if
// braces is set; comment reports that a comment started right after it.
func lexWord(line string, i int, braces bool) (word string, next int, comment bool, err error) {
	var b strings.Builder
	var quote byte
	for ; i < len(line); i++ {
		c := line[i]
		if quote != 0 {
			switch {
			case c == quote:
				quote = 0
			case c == '\\' && i+1 < len(line):
				r, n := unescape(line[i+1:])
				b.WriteString(r)
				i += n
			default:
				b.WriteByte(c)
			}
			continue
		}
		switch {
		case isSpace(c) || braces && (c == '{' || c == '}'):
			return b.String(), i, false, nil
		case c == '#' || c == '!':
			return b.String(), i, true, nil
		case c == '"' || c == '\'':
			quote = c
		case c == '\\' && i+1 < len(line) && (line[i+1] == '#' || line[i+1] == '!'):
			b.WriteByte(line[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	if quote != 0 {
		return "", 0, false, fmt.Errorf("unterminated quote %c", quote)
	}
	return b.String(), i, false, nil
}

// unescape decodes the escape after a backslash inside quotes (the shell's
// set, as keepalived documents it) and returns it with the bytes used.
func unescape(s string) (string, int) {
	switch c := s[0]; c {
	case 'a':
		return "\a", 1
	case 'b':
		return "\b", 1
	case 'E', 'e':
		return "\x1b", 1
	case 'f':
		return "\f", 1
	case 'n':
		return "\n", 1
	case 'r':
		return "\r", 1
	case 't':
		return "\t", 1
	case 'v':
		return "\v", 1
	case 'x':
		n, v := 0, 0
		for n < 2 && 1+n < len(s) && isHex(s[1+n]) {
			v = v*16 + hexVal(s[1+n])
			n++
		}
		if n == 0 {
			return "x", 1
		}
		return string(rune(v)), 1 + n
	case 'c':
		if len(s) > 1 {
			return string(rune(s[1] & 0x1f)), 2
		}
		return "c", 1
	default:
		if c >= '0' && c <= '7' {
			n, v := 0, 0
			for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
				v = v*8 + int(s[n]-'0')
				n++
			}
			return string(rune(v & 0xff)), n
		}
		return string(c), 1
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}

// isDefinition reports whether s is keepalived's "$NAME=VALUE".
func isDefinition(s string) bool {
	if len(s) < 2 || s[0] != '$' || !(isAlpha(s[1]) || s[1] == '_') {
		return false
	}
	i := 2
	for i < len(s) && (isAlpha(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '_') {
		i++
	}
	rest := strings.TrimLeft(s[i:], " \t")
	return strings.HasPrefix(rest, "=")
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t{}#!"); i >= 0 {
		return s[:i]
	}
	return s
}
