package keepalived

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mapFiles is a file system in memory: name -> contents.
type mapFiles map[string]string

func (m mapFiles) ReadFile(name string) ([]byte, error) {
	s, ok := m[filepath.Clean(name)]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(s), nil
}

func (m mapFiles) Glob(pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for name := range m {
		if ok, _ := filepath.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// dump writes statements one a line, children indented, as
// "file:line key [args] {".
func dump(nodes []*Node) string {
	var b strings.Builder
	var walk func([]*Node, string)
	walk = func(ns []*Node, indent string) {
		for _, n := range ns {
			b.WriteString(indent + n.Pos.String() + " " + n.Key)
			for _, a := range n.Args {
				b.WriteString(" [" + a + "]")
			}
			if n.Block {
				b.WriteString(" {")
			}
			b.WriteString("\n")
			walk(n.Children, indent+"  ")
		}
	}
	walk(nodes, "")
	return b.String()
}

func TestParseSyntax(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"comments", "a 1 # c\nb 2 ! c\n! whole\n# whole\nc x#y\n", "f:1 a [1]\nf:2 b [2]\nf:5 c [x]\n"},
		{"escaped comment characters", `auth_pass a\#b\!c` + "\n", "f:1 auth_pass [a#b!c]\n"},
		{"quotes", `notify "/bin/x a  b" 'c d' e"f g"h ""` + "\n", "f:1 notify [/bin/x a  b] [c d] [ef gh] []\n"},
		{"escapes in quotes", `x "a\tb\"c\\d\x41\101"` + "\n", "f:1 x [a\tb\"c\\dAA]\n"},
		{"comment characters in quotes", `x "a#b!c"` + "\n", "f:1 x [a#b!c]\n"},
		{"braces split a line", "url { path /x status_code 200 }\n", "f:1 url {\n  f:1 path [/x] [status_code] [200]\n"},
		{"block opens on the next line", "vs 1\n\n{\n  k v\n}\n", "f:1 vs [1] {\n  f:4 k [v]\n"},
		{"empty block", "a {\n}\nb {}\n", "f:1 a {\nf:3 b {\n"},
		{"continuation", "a 1 \\\n  2\nb\n", "f:1 a [1] [2]\nf:3 b\n"},
		{"continuation at the end", "a 1 \\", "f:1 a [1]\n"},
		{"CRLF", "a {\r\n b 1\r\n}\r\n", "f:1 a {\n  f:2 b [1]\n"},
		{"nested", "v {\n r {\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n }\n}\n", "f:1 v {\n  f:2 r {\n    f:3 HTTP_GET {\n      f:4 url {\n        f:5 path [/]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, err := Parse(mapFiles{}, "f", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(nodes); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a {\n b 1\n", `f:1: block "a" is not closed: a "}" is missing before the end of the file`},
		{"a {\n}\n}\n", `f:3: "}" closes no block`},
		{"a 1\n{ b }\n{\n", `f:3: "{" without a keyword before it`},
		{"{\n}\n", `f:1: "{" without a keyword before it`},
		{"a {\n  b \"c\n}\n", `f:2: unterminated quote "`},
		{"@main router_id x\n", "f:1: conditional configuration (@main) is not supported: keep the lines of this balancer and remove the @ prefixes"},
		{"  @^backup router_id x\n", "f:1: conditional configuration (@^backup) is not supported: keep the lines of this balancer and remove the @ prefixes"},
		{"$IF = eth0\n", "f:1: parameter definitions ($IF) are not supported: substitute the parameters first"},
		{"~SEQ(i, 1, 3)\n", "f:1: ~SEQ sequences are not supported: expand them first"},
		{"include\n", "f:1: include takes exactly one file name or pattern"},
		{"include a b\n", "f:1: include takes exactly one file name or pattern"},
		{"include a {\n}\n", "f:1: include takes exactly one file name or pattern"}, // braces are a pattern's
		{"include a\n{\n}\n", "f:1: include takes a file name, not a block"},
		{"x \"\xff\"\n", `f:1: "\xff" is not valid UTF-8`},
		{strings.Repeat("a {\n", maxNesting+1), "f:65: blocks nested deeper than 64"},
	} {
		_, err := Parse(mapFiles{}, "f", []byte(tc.in))
		var e *Error
		if !errors.As(err, &e) || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestInclude(t *testing.T) {
	files := mapFiles{
		"etc/main.conf":        "a 1\ninclude conf.d/*.conf\ninclude other/{x,y}.inc\ninclude conf.d/none-*\nb 2\n",
		"etc/conf.d/20.conf":   "c 20\n",
		"etc/conf.d/10.conf":   "c 10\ninclude ../other/x.inc\n",
		"etc/other/x.inc":      "x {\n  k v\n}\n",
		"etc/other/y.inc":      "y\n",
		"etc/in-block.conf":    "v {\n  include ../etc/other/y.inc\n}\n",
		"etc/loop.conf":        "include loop2.conf\n",
		"etc/loop2.conf":       "\ninclude ./loop.conf\n",
		"etc/missing.conf":     "include nope.conf\n",
		"etc/bad-pattern.conf": "include [\n",
		"etc/deep.conf":        "include deep.conf\n",
	}
	nodes, err := Load(files, "etc/main.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := "etc/main.conf:1 a [1]\n" +
		"etc/conf.d/10.conf:1 c [10]\n" +
		"etc/other/x.inc:1 x {\n  etc/other/x.inc:2 k [v]\n" +
		"etc/conf.d/20.conf:1 c [20]\n" +
		"etc/other/x.inc:1 x {\n  etc/other/x.inc:2 k [v]\n" +
		"etc/other/y.inc:1 y\n" +
		"etc/main.conf:5 b [2]\n"
	if got := dump(nodes); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	// An include inside a block puts the file's statements in the block.
	nodes, err = Load(files, "etc/in-block.conf")
	if err != nil || dump(nodes) != "etc/in-block.conf:1 v {\n  etc/other/y.inc:1 y\n" {
		t.Errorf("include in a block: %v\n%s", err, dump(nodes))
	}

	for name, want := range map[string]string{
		"etc/loop.conf":        "etc/loop2.conf:2: include loop: etc/loop.conf -> etc/loop2.conf -> etc/loop.conf",
		"etc/deep.conf":        "etc/deep.conf:1: include loop: etc/deep.conf -> etc/deep.conf",
		"etc/missing.conf":     "etc/missing.conf:1: include nope.conf: etc/nope.conf: no such file",
		"etc/bad-pattern.conf": "etc/bad-pattern.conf:1: include [: syntax error in pattern",
	} {
		_, err := Load(files, name)
		if err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v, want %q", name, err, want)
		}
	}
}

// TestIncludeDepth: a loop the paths do not show (a link) ends at the
// depth limit.
func TestIncludeDepth(t *testing.T) {
	files := mapFiles{}
	for i := range maxIncludeDepth + 2 {
		files[filepath.Join("d", strings.Repeat("x/", i), "f.conf")] = "include x/f.conf\n"
	}
	_, err := Load(files, "d/f.conf")
	if err == nil || !strings.Contains(err.Error(), "includes nested deeper than 32") {
		t.Errorf("got %v", err)
	}
}

func TestExpandBraces(t *testing.T) {
	for in, want := range map[string][]string{
		"a":              {"a"},
		"a{b,c}d":        {"abd", "acd"},
		"{a,b}{1,2}":     {"a1", "a2", "b1", "b2"},
		"x{a,b{1,2}}y":   {"xay", "xb1y", "xb2y"},
		"{foo/{,c,d},b}": {"foo/", "foo/c", "foo/d", "b"},
		"a{b":            {"a{b"},
		"a{}b":           {"ab"},
	} {
		got, err := expandBraces(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("expandBraces(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := expandBraces(strings.Repeat("{a,b,c,d}", 6)); err == nil {
		t.Error("4096 names: no error")
	}
}
