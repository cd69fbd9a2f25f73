package conf

import (
	"strings"
	"testing"
)

const locatorDoc = `# leading comment
 
title = "x" # comment with [brackets] and key = "value"

[dataplane]   # trailing comment
workers = [
  1,   # first
  2,
  # a comment line inside the array
  3,
]
eal_args = ["--no-huge", "-m",
  "512", "a]b#c", 'x]"y',
]
"quoted key" = 1
'literal.key' = 2
dotted . inner = 3
text = """
[service]
fake = 1
"""
lit = '''
[[service]]
'''
after_strings = true

[[dataplane.port]]
name = "p0"

[[dataplane.port]]
name = "p1"
inline = { a = 1, b = [ 1,
  2 ], c = { d = "}" } }

[[service]]
name = "a"
  [[service.backend]]
  address = "192.0.2.1"
  [[service.backend]]
  address = "192.0.2.2"
  weight = 5

[[service]] # second service
name = "b"
backend = [
  { address = "192.0.2.3" },
  { address = "192.0.2.4", weight = 7 },
]

[ service . "x.y" ]
z = 1

[[ "dataplane" . port ]]
name = "p2"
`

func TestLocator(t *testing.T) {
	loc := newLocator([]byte(locatorDoc))
	tests := []struct {
		path string
		line int
	}{
		{"title", 3},
		{"dataplane", 5},
		{"dataplane.workers", 6},
		{"dataplane.workers[0]", 7},
		{"dataplane.workers[1]", 8},
		{"dataplane.workers[2]", 10},
		{"dataplane.eal_args", 12},
		{"dataplane.eal_args[1]", 12},
		{"dataplane.eal_args[2]", 13},
		{"dataplane.eal_args[4]", 13},
		{`dataplane."quoted key"`, 15},
		{`dataplane."literal.key"`, 16},
		{"dataplane.dotted.inner", 17},
		{"dataplane.dotted", 17},
		{"dataplane.text", 18},
		{"dataplane.lit", 22},
		{"dataplane.after_strings", 25},
		{"dataplane.port", 27},
		{"dataplane.port[0]", 27},
		{"dataplane.port[0].name", 28},
		{"dataplane.port[1]", 30},
		{"dataplane.port[1].name", 31},
		{"dataplane.port[1].inline.a", 32},
		{"dataplane.port[1].inline.b[1]", 33},
		{"dataplane.port[1].inline.c.d", 33},
		{"service", 35},
		{"service[0].name", 36},
		{"service[0].backend[0]", 37},
		{"service[0].backend[0].address", 38},
		{"service[0].backend[1].address", 40},
		{"service[0].backend[1].weight", 41},
		{"service[1]", 43},
		{"service[1].name", 44},
		{"service[1].backend", 45},
		{"service[1].backend[0].address", 46},
		{"service[1].backend[1].weight", 47},
		{`service[1]."x.y".z`, 51},
		{"dataplane.port[2].name", 54},
		// Fallbacks: missing key -> enclosing table -> line 1.
		{"service[0].backend[1].missing", 39},
		{"service[1].vip", 43},
		{"service[1].backend[1].missing", 47},
		{"dataplane.port[0].device", 27},
		{"nothing.here", 1},
		// Not fooled by the strings' content.
		{"service[0].fake", 35},
	}
	for _, tt := range tests {
		if got := loc.line(parsePath(tt.path)); got != tt.line {
			t.Errorf("line(%s) = %d, want %d", tt.path, got, tt.line)
		}
	}
	if _, ok := loc.exact(parsePath("service[0].fake")); ok {
		t.Errorf("key inside a multi-line string was recorded")
	}
	var nilLoc *locator
	if got := nilLoc.line(parsePath("a")); got != 0 {
		t.Errorf("nil locator: line = %d, want 0", got)
	}
}

func TestLocatorCRLFAndBOM(t *testing.T) {
	src := "\xEF\xBB\xBF[a]\r\nx = 1\r\n\r\n[[b]]\r\ny = \"\"\"\r\n\r\n\"\"\"\r\nz = 2\r\n"
	loc := newLocator([]byte(src))
	for path, want := range map[string]int{"a": 1, "a.x": 2, "b[0]": 4, "b[0].y": 5, "b[0].z": 8} {
		if got := loc.line(parsePath(path)); got != want {
			t.Errorf("line(%s) = %d, want %d", path, got, want)
		}
	}
}

func TestLocatorMultilineEdgeCases(t *testing.T) {
	src := strings.Join([]string{
		`a = """x\"""\`, // escaped quote, line-ending backslash
		`  y"""""`,      // content ends with two quotes
		`b = 1`,
		`c = '''''x'''''`,
		`d = 2`,
		`e = "\"[x]\" # not a comment"`,
		`f = 3`,
		`"esc\u0041\"" = 4`,
	}, "\n")
	loc := newLocator([]byte(src))
	for path, want := range map[string]int{"a": 1, "b": 3, "c": 4, "d": 5, "e": 6, "f": 7} {
		if got, ok := loc.exact(parsePath(path)); !ok || got != want {
			t.Errorf("exact(%s) = %d, %v; want %d", path, got, ok, want)
		}
	}
	if got, ok := loc.exact(fieldPath{}.key(`escA"`)); !ok || got != 8 {
		t.Errorf("escaped quoted key: line %d, %v; want 8", got, ok)
	}
}

func TestPathRoundTrip(t *testing.T) {
	for _, s := range []string{
		"a", "service[0].backend[12].weight", `dataplane."quoted key"`, `"a.b"[3]`, `x[1][2].y`, `"\n"`,
	} {
		if got := parsePath(s).String(); got != s {
			t.Errorf("parsePath(%q).String() = %q", s, got)
		}
	}
	p := fieldPath{}.key("service").idx(2).key("a b")
	if got := p.String(); got != `service[2]."a b"` {
		t.Errorf("String() = %q", got)
	}
}
