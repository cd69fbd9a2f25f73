package keepalived

import (
	"cmp"
	"fmt"
	"slices"
)

// Issue is something of the keepalived configuration that the dsrlb
// configuration does not do as keepalived did: a keyword left out, or a
// value changed to fit. Printed as "FILE:LINE: keyword: why".
type Issue struct {
	Pos     Pos
	Keyword string
	Why     string
}

// String is the issue on one line, whatever the keepalived text held.
func (i Issue) String() string { return oneLine(fmt.Sprintf("%s: %s: %s", i.Pos, i.Keyword, i.Why)) }

// report collects issues and errors while converting.
type report struct {
	issues []Issue
	errs   []*Error
	seen   map[string]bool // an issue of a virtual server group is reported once, not per address
}

// omit records that n (its keyword) is not converted, or not as written.
func (r *report) omit(n *Node, format string, args ...any) {
	r.omitAt(n.Pos, n.Key, format, args...)
}

func (r *report) omitAt(pos Pos, keyword, format string, args ...any) {
	is := Issue{Pos: pos, Keyword: keyword, Why: fmt.Sprintf(format, args...)}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if k := is.String(); !r.seen[k] {
		r.seen[k] = true
		r.issues = append(r.issues, is)
	}
}

// fail records an error: nothing is written.
func (r *report) fail(n *Node, format string, args ...any) {
	r.errs = append(r.errs, &Error{Pos: n.Pos, Msg: fmt.Sprintf(format, args...)})
}

// sorted returns the issues in file order: by file as first met, then
// line.
func (r *report) sorted(order map[string]int) []Issue {
	out := append([]Issue(nil), r.issues...)
	slices.SortStableFunc(out, func(a, b Issue) int { return comparePos(order, a.Pos, b.Pos) })
	return out
}

// comparePos orders positions by file (as first met) and line.
func comparePos(order map[string]int, a, b Pos) int {
	if a.File != b.File {
		return cmp.Compare(order[a.File], order[b.File])
	}
	return cmp.Compare(a.Line, b.Line)
}
