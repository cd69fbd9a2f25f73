package counters

import (
	"strings"
)

// Markdown is the README's table of every counter.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| counter | kind | unit | scope | meaning |\n|---|---|---|---|---|\n")
	for _, d := range All() {
		b.WriteString("| `" + d.Name + "` | " + d.Kind.String() + " | " + d.Unit + " | " + d.Scope.String() + " | " + d.Help + " |\n")
	}
	return b.String()
}

// README markers around the generated table.
const (
	BeginMarker = "<!-- counters table: generated from perf/counters; `make readme` rewrites it -->"
	EndMarker   = "<!-- end of counters table -->"
)

// ReplaceTable returns readme with the text between the markers replaced by
// Markdown(), and whether both markers were found.
func ReplaceTable(readme string) (string, bool) {
	i := strings.Index(readme, BeginMarker)
	j := strings.Index(readme, EndMarker)
	if i < 0 || j < i {
		return readme, false
	}
	i += len(BeginMarker)
	return readme[:i] + "\n" + Markdown() + readme[j:], true
}
