package keepalived

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Pos is a line of a keepalived file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Error is a problem that stops the conversion: a syntax error, an
// unreadable or looping include, an unknown block.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return oneLine(e.Pos.String() + ": " + e.Msg) }

// Node is one statement of a keepalived file: a keyword with its
// arguments and, for a block, the statements inside it. Includes are
// already replaced by the statements of the files they name.
type Node struct {
	Pos      Pos
	Key      string
	Args     []string
	Block    bool // written with { ... }, even an empty one
	Children []*Node
}

// Arg returns argument i, or "" when there are fewer.
func (n *Node) Arg(i int) string {
	if i < len(n.Args) {
		return n.Args[i]
	}
	return ""
}

// Text is the statement as it reads, without its block: for messages and
// comments.
func (n *Node) Text() string {
	if len(n.Args) == 0 {
		return n.Key
	}
	return n.Key + " " + strings.Join(n.Args, " ")
}

// Files is where the configuration and its includes are read from.
type Files interface {
	ReadFile(name string) ([]byte, error)
	// Glob returns the names matching pattern (filepath.Match syntax), in
	// lexical order.
	Glob(pattern string) ([]string, error)
}

// OSFiles reads the machine's files.
type OSFiles struct{}

// ReadFile reads a file.
func (OSFiles) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Glob expands a file name pattern.
func (OSFiles) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// maxNesting bounds nested blocks: keepalived's deepest is four
// (virtual_server, real_server, checker, url).
const maxNesting = 64

// maxIncludeDepth bounds nested includes: a loop through a symbolic link,
// which the path comparison cannot see, ends here too.
const maxIncludeDepth = 32

// Load reads the keepalived configuration file name and the files it
// includes, and returns its statements.
func Load(files Files, name string) ([]*Node, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return Parse(files, name, data)
}

// Parse parses data, the contents of file name; its includes are read
// from files, relative to name's directory.
func Parse(files Files, name string, data []byte) ([]*Node, error) {
	p := &parser{files: files}
	return p.file(name, data, nil)
}

type parser struct {
	files Files
	stack []string // the files being read, outermost first: for loops
}

// file parses one file; from is the include statement that names it (nil
// for the main file).
func (p *parser) file(name string, data []byte, from *Node) ([]*Node, error) {
	key := filepath.Clean(name)
	for i, f := range p.stack {
		if f == key {
			chain := append(append([]string(nil), p.stack[i:]...), key)
			return nil, &Error{Pos: from.Pos, Msg: "include loop: " + strings.Join(chain, " -> ")}
		}
	}
	if len(p.stack) >= maxIncludeDepth {
		return nil, &Error{Pos: from.Pos, Msg: fmt.Sprintf("includes nested deeper than %d (a loop through a link?)", maxIncludeDepth)}
	}
	p.stack = append(p.stack, key)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()

	toks, err := lex(name, data)
	if err != nil {
		return nil, err
	}
	b := &blockParser{p: p, file: name, toks: toks}
	nodes, err := b.block(nil)
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

// blockParser turns one file's tokens into statements.
type blockParser struct {
	p     *parser
	file  string
	toks  []token
	i     int
	depth int
}

func (b *blockParser) pos(line int) Pos { return Pos{b.file, line} }

// skipEOL skips line ends and reports whether a token follows.
func (b *blockParser) skipEOL() bool {
	for b.i < len(b.toks) && b.toks[b.i].kind == tokEOL {
		b.i++
	}
	return b.i < len(b.toks)
}

// block parses statements up to the "}" that closes open (nil: the end of
// the file).
func (b *blockParser) block(open *Node) ([]*Node, error) {
	var nodes []*Node
	for {
		if !b.skipEOL() {
			if open != nil {
				return nil, &Error{Pos: open.Pos, Msg: fmt.Sprintf("block %q is not closed: a \"}\" is missing before the end of the file", open.Key)}
			}
			return nodes, nil
		}
		t := b.toks[b.i]
		switch t.kind {
		case tokClose:
			b.i++
			if open == nil {
				return nil, &Error{Pos: b.pos(t.line), Msg: "\"}\" closes no block"}
			}
			return nodes, nil
		case tokOpen:
			return nil, &Error{Pos: b.pos(t.line), Msg: "\"{\" without a keyword before it"}
		}
		n := &Node{Pos: b.pos(t.line), Key: t.text}
		b.i++
		for b.i < len(b.toks) && b.toks[b.i].kind == tokWord {
			n.Args = append(n.Args, b.toks[b.i].text)
			b.i++
		}
		// A block may open on the statement's line or on a later one.
		save := b.i
		if b.skipEOL() && b.toks[b.i].kind == tokOpen {
			b.i++
			n.Block = true
			if b.depth++; b.depth > maxNesting {
				return nil, &Error{Pos: n.Pos, Msg: fmt.Sprintf("blocks nested deeper than %d", maxNesting)}
			}
			kids, err := b.block(n)
			b.depth--
			if err != nil {
				return nil, err
			}
			n.Children = kids
		} else {
			b.i = save
		}
		if isInclude(n.Key) {
			inc, err := b.include(n)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, inc...)
			continue
		}
		nodes = append(nodes, n)
	}
}

// isInclude reports whether key is include or one of its variants
// (includer, includem, includew, includeb, includea), which differ only in
// how keepalived reports missing files.
func isInclude(key string) bool {
	switch key {
	case "include", "includer", "includem", "includew", "includeb", "includea":
		return true
	}
	return false
}

// include returns the statements of the files an include names: a path
// or a glob pattern (with csh braces), relative to the including file's
// directory. A pattern that matches nothing includes nothing, as in
// keepalived; a plain name that does not exist is an error, since the
// conversion would silently miss its contents.
func (b *blockParser) include(n *Node) ([]*Node, error) {
	if n.Block {
		return nil, &Error{Pos: n.Pos, Msg: n.Key + " takes a file name, not a block"}
	}
	if len(n.Args) != 1 {
		return nil, &Error{Pos: n.Pos, Msg: n.Key + " takes exactly one file name or pattern"}
	}
	pattern := n.Args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(b.file), pattern)
	}
	var names []string
	patterns, err := expandBraces(pattern)
	if err != nil {
		return nil, &Error{Pos: n.Pos, Msg: fmt.Sprintf("%s %s: %v", n.Key, n.Args[0], err)}
	}
	seen := map[string]bool{}
	for _, pat := range patterns {
		if !hasGlob(pat) {
			if !seen[pat] {
				seen[pat] = true
				names = append(names, pat)
			}
			continue
		}
		m, err := b.p.files.Glob(pat)
		if err != nil {
			return nil, &Error{Pos: n.Pos, Msg: fmt.Sprintf("%s %s: %v", n.Key, n.Args[0], err)}
		}
		for _, name := range m {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	var out []*Node
	for _, name := range names {
		data, err := b.p.files.ReadFile(name)
		if err != nil {
			msg := err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				msg = "no such file"
			}
			return nil, &Error{Pos: n.Pos, Msg: fmt.Sprintf("%s %s: %s: %s", n.Key, n.Args[0], name, msg)}
		}
		nodes, err := b.p.file(name, data, n)
		if err != nil {
			return nil, err
		}
		out = append(out, nodes...)
	}
	return out, nil
}

func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// maxBraceExpansion bounds what one include pattern expands to.
const maxBraceExpansion = 1024

// expandBraces expands csh braces: "a{b,c{d,e}}f" is abf, acdf, acef. A
// pattern without a matching "}" is taken literally.
func expandBraces(s string) ([]string, error) {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return []string{s}, nil
	}
	depth, close := 0, -1
	var commas []int
	for i := open; i < len(s) && close < 0; i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				close = i
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
	}
	if close < 0 {
		return []string{s}, nil
	}
	prefix, suffix := s[:open], s[close+1:]
	var alts []string
	start := open + 1
	for _, c := range commas {
		alts = append(alts, s[start:c])
		start = c + 1
	}
	alts = append(alts, s[start:close])
	rest, err := expandBraces(suffix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range alts {
		inner, err := expandBraces(prefix + a)
		if err != nil {
			return nil, err
		}
		for _, in := range inner {
			for _, r := range rest {
				out = append(out, in+r)
				if len(out) > maxBraceExpansion {
					return nil, fmt.Errorf("braces expand to more than %d names", maxBraceExpansion)
				}
			}
		}
	}
	return out, nil
}
