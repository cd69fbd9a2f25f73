package perf

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// AlertRule is one rule of a Prometheus rules file.
type AlertRule struct {
	Group       string
	Alert       string // "" for a recording rule
	Record      string // "" for an alerting rule
	Expr        string
	For         string // "" when not set
	Labels      map[string]string
	Annotations map[string]string
	Line        int // of the rule's first key
}

// AlertRules reads the Prometheus rules file at path. It is no general
// YAML reader: it takes the subset the repository's rules file is written
// in (see yamlNode) and exactly the keys of Prometheus's rule groups that
// it uses; anything else is an error with its line, so that a change of
// shape is noticed rather than misread.
func AlertRules(path string) ([]AlertRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	root, err := parseYAMLSubset(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rules, err := rulesFrom(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}

func rulesFrom(root *yamlNode) ([]AlertRule, error) {
	if err := root.onlyKeys("groups"); err != nil {
		return nil, err
	}
	groups, err := root.seq("groups", true)
	if err != nil {
		return nil, err
	}
	var out []AlertRule
	for _, g := range groups {
		if err := g.onlyKeys("name", "interval", "rules"); err != nil {
			return nil, err
		}
		name, err := g.scalarOf("name", true)
		if err != nil {
			return nil, err
		}
		rs, err := g.seq("rules", true)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if err := r.onlyKeys("alert", "record", "expr", "for", "labels", "annotations"); err != nil {
				return nil, err
			}
			ar := AlertRule{Group: name, Line: r.line}
			if ar.Alert, err = r.scalarOf("alert", false); err != nil {
				return nil, err
			}
			if ar.Record, err = r.scalarOf("record", false); err != nil {
				return nil, err
			}
			if (ar.Alert == "") == (ar.Record == "") {
				return nil, fmt.Errorf("line %d: a rule needs exactly one of alert and record", r.line)
			}
			if ar.Expr, err = r.scalarOf("expr", true); err != nil {
				return nil, err
			}
			ar.Expr = strings.TrimSpace(ar.Expr)
			if ar.For, err = r.scalarOf("for", false); err != nil {
				return nil, err
			}
			if ar.Labels, err = r.strMap("labels"); err != nil {
				return nil, err
			}
			if ar.Annotations, err = r.strMap("annotations"); err != nil {
				return nil, err
			}
			if ar.Record != "" && (ar.For != "" || ar.Annotations != nil) {
				return nil, fmt.Errorf("line %d: recording rule %s with for or annotations", r.line, ar.Record)
			}
			out = append(out, ar)
		}
	}
	return out, nil
}

// yamlNode is a node of the YAML subset parseYAMLSubset reads: block
// mappings (keys [A-Za-z_][A-Za-z0-9_]*), block sequences, one-line
// scalars (plain, 'single' or "double" quoted; plain ones are strings, no
// numbers or booleans), `|` and `|-` literal blocks, and the empty flow
// collections [] and {}. No tabs, anchors, tags, flow collections with
// content, multi-line plain or quoted scalars, or several documents.
type yamlNode struct {
	kind  yamlKind
	line  int
	str   string
	keys  []string
	m     map[string]*yamlNode
	items []*yamlNode
}

type yamlKind int

const (
	yamlScalar yamlKind = iota
	yamlMap
	yamlSeq
)

func (k yamlKind) String() string {
	return [...]string{"scalar", "mapping", "sequence"}[k]
}

func (n *yamlNode) onlyKeys(allowed ...string) error {
	if n.kind != yamlMap {
		return fmt.Errorf("line %d: want a mapping, got a %s", n.line, n.kind)
	}
	for _, k := range n.keys {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return fmt.Errorf("line %d: unexpected key %q (allowed: %s)", n.m[k].line, k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func (n *yamlNode) get(key string, required bool, kind yamlKind) (*yamlNode, error) {
	v, ok := n.m[key]
	if !ok {
		if required {
			return nil, fmt.Errorf("line %d: missing key %q", n.line, key)
		}
		return nil, nil
	}
	if v.kind != kind {
		return nil, fmt.Errorf("line %d: %s: want a %s, got a %s", v.line, key, kind, v.kind)
	}
	return v, nil
}

func (n *yamlNode) scalarOf(key string, required bool) (string, error) {
	v, err := n.get(key, required, yamlScalar)
	if v == nil {
		return "", err
	}
	if required && v.str == "" {
		return "", fmt.Errorf("line %d: %s is empty", v.line, key)
	}
	return v.str, nil
}

func (n *yamlNode) seq(key string, required bool) ([]*yamlNode, error) {
	v, err := n.get(key, required, yamlSeq)
	if v == nil {
		return nil, err
	}
	return v.items, nil
}

func (n *yamlNode) strMap(key string) (map[string]string, error) {
	v, err := n.get(key, false, yamlMap)
	if v == nil {
		return nil, err
	}
	out := make(map[string]string, len(v.keys))
	for _, k := range v.keys {
		e := v.m[k]
		if e.kind != yamlScalar {
			return nil, fmt.Errorf("line %d: %s.%s: want a scalar, got a %s", e.line, key, k, e.kind)
		}
		out[k] = e.str
	}
	return out, nil
}

// parseYAMLSubset parses a document of the subset yamlNode describes.
func parseYAMLSubset(text string) (*yamlNode, error) {
	p := &yamlParser{lines: strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")}
	for i, l := range p.lines {
		if ws := l[:len(l)-len(strings.TrimLeft(l, " \t"))]; strings.Contains(ws, "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", i+1)
		}
		p.lines[i] = strings.TrimRight(l, " \t")
	}
	ind, ok := p.next()
	if !ok {
		return nil, fmt.Errorf("empty document")
	}
	if ind != 0 {
		return nil, fmt.Errorf("line %d: the document must start at column 1", p.pos+1)
	}
	n, err := p.block(0)
	if err != nil {
		return nil, err
	}
	if _, ok := p.next(); ok {
		return nil, fmt.Errorf("line %d: unexpected content", p.pos+1)
	}
	return n, nil
}

type yamlParser struct {
	lines []string
	pos   int
}

// next skips blank and comment lines; it returns the indentation of the
// line at pos, or false at the end.
func (p *yamlParser) next() (int, bool) {
	for ; p.pos < len(p.lines); p.pos++ {
		t := strings.TrimLeft(p.lines[p.pos], " ")
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		return len(p.lines[p.pos]) - len(t), true
	}
	return 0, false
}

func isSeqItem(t string) bool { return t == "-" || strings.HasPrefix(t, "- ") }

// block parses the mapping or sequence whose first line, at pos, is
// indented by ind.
func (p *yamlParser) block(ind int) (*yamlNode, error) {
	t := p.lines[p.pos][ind:]
	if t == "---" || t == "..." {
		return nil, fmt.Errorf("line %d: document markers are not supported", p.pos+1)
	}
	if isSeqItem(t) {
		return p.sequence(ind)
	}
	return p.mapping(ind)
}

var yamlKey = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*):(?: +(.*))?$`)

func (p *yamlParser) mapping(ind int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlMap, line: p.pos + 1, m: map[string]*yamlNode{}}
	for {
		i, ok := p.next()
		if !ok || i < ind {
			return n, nil
		}
		line := p.pos + 1
		if i > ind {
			return nil, fmt.Errorf("line %d: unexpected indentation", line)
		}
		t := p.lines[p.pos][ind:]
		if isSeqItem(t) {
			return n, nil // the parent's sequence goes on
		}
		km := yamlKey.FindStringSubmatch(t)
		if km == nil {
			return nil, fmt.Errorf("line %d: want `key: value`, got %q", line, t)
		}
		key, rest := km[1], km[2]
		if _, dup := n.m[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", line, key)
		}
		p.pos++
		var v *yamlNode
		var err error
		switch {
		case rest == "" || strings.HasPrefix(rest, "#"):
			ci, ok := p.next()
			switch {
			case ok && ci > ind:
				v, err = p.block(ci)
			case ok && ci == ind && isSeqItem(p.lines[p.pos][ind:]):
				v, err = p.sequence(ind)
			default:
				err = fmt.Errorf("line %d: %s has no value", line, key)
			}
		case rest == "|" || rest == "|-":
			v = p.literal(ind, line, rest == "|-")
		default:
			v, err = scalar(rest, line)
		}
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, key)
		n.m[key] = v
	}
}

func (p *yamlParser) sequence(ind int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlSeq, line: p.pos + 1}
	for {
		i, ok := p.next()
		if !ok || i < ind {
			return n, nil
		}
		line := p.pos + 1
		t := p.lines[p.pos][ind:]
		if i > ind {
			return nil, fmt.Errorf("line %d: unexpected indentation", line)
		}
		if !isSeqItem(t) {
			return n, nil // a key of the parent mapping
		}
		rest := strings.TrimLeft(strings.TrimPrefix(t, "-"), " ")
		var v *yamlNode
		var err error
		switch {
		case rest == "" || strings.HasPrefix(rest, "#"):
			p.pos++
			ci, ok := p.next()
			if !ok || ci <= ind {
				return nil, fmt.Errorf("line %d: empty sequence item", line)
			}
			v, err = p.block(ci)
		case yamlKey.MatchString(rest):
			// "- key: value": a mapping whose keys are indented as this
			// first one. Blank the dash and parse the mapping there.
			col := len(p.lines[p.pos]) - len(rest)
			p.lines[p.pos] = strings.Repeat(" ", col) + rest
			v, err = p.mapping(col)
		default:
			p.pos++
			v, err = scalar(rest, line)
		}
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, v)
	}
}

// literal reads the lines of a `|` block after a key indented by ind.
func (p *yamlParser) literal(ind, line int, strip bool) *yamlNode {
	var body []string
	blockInd := -1
	for ; p.pos < len(p.lines); p.pos++ {
		l := p.lines[p.pos]
		t := strings.TrimLeft(l, " ")
		if t == "" {
			body = append(body, "")
			continue
		}
		i := len(l) - len(t)
		if blockInd < 0 {
			if i <= ind {
				break
			}
			blockInd = i
		}
		if i < blockInd {
			break
		}
		body = append(body, l[blockInd:])
	}
	for len(body) > 0 && body[len(body)-1] == "" {
		body = body[:len(body)-1]
	}
	s := strings.Join(body, "\n")
	if !strip && s != "" {
		s += "\n"
	}
	return &yamlNode{kind: yamlScalar, line: line, str: s}
}

// scalar parses a one-line scalar value.
func scalar(s string, line int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlScalar, line: line}
	rest := ""
	switch s[0] {
	case '"':
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] != '\\' {
				b.WriteByte(s[i])
				continue
			}
			i++
			if i == len(s) {
				break
			}
			switch s[i] {
			case '\\', '"', '/':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				return nil, fmt.Errorf("line %d: unsupported escape \\%c", line, s[i])
			}
		}
		if i >= len(s) {
			return nil, fmt.Errorf("line %d: unterminated double-quoted string (only one-line strings are supported)", line)
		}
		n.str, rest = b.String(), s[i+1:]
	case '\'':
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, fmt.Errorf("line %d: unterminated single-quoted string (only one-line strings are supported)", line)
		}
		n.str, rest = b.String(), s[i+1:]
	default:
		if s == "[]" || strings.HasPrefix(s, "[] #") {
			return &yamlNode{kind: yamlSeq, line: line}, nil
		}
		if s == "{}" || strings.HasPrefix(s, "{} #") {
			return &yamlNode{kind: yamlMap, line: line, m: map[string]*yamlNode{}}, nil
		}
		if strings.ContainsRune("[]{}&*!|>%@`?,'\"", rune(s[0])) || strings.HasPrefix(s, "- ") {
			return nil, fmt.Errorf("line %d: unsupported value %q", line, s)
		}
		if i := strings.Index(s, " #"); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimRight(s, " ")
		if strings.Contains(s, ": ") || strings.HasSuffix(s, ":") {
			return nil, fmt.Errorf("line %d: plain value %q contains \": \": quote it", line, s)
		}
		n.str = s
		return n, nil
	}
	if rest = strings.TrimLeft(rest, " "); rest != "" && !strings.HasPrefix(rest, "#") {
		return nil, fmt.Errorf("line %d: unexpected %q after the quoted string", line, rest)
	}
	return n, nil
}
