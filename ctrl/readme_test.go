package ctrl

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's generated metric list")

// TestREADMEMetrics keeps the README's metric list equal to MetricDocs;
// `make readme` (go test -run README -update) rewrites it.
func TestREADMEMetrics(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, MetricsBeginMarker), strings.Index(s, MetricsEndMarker)
	if i < 0 || j < i {
		t.Fatalf("README.md has no metric list between %q and %q", MetricsBeginMarker, MetricsEndMarker)
	}
	i += len(MetricsBeginMarker)
	got := s[:i] + "\n" + MetricsMarkdown() + s[j:]
	if got == s {
		return
	}
	if *update {
		if err := os.WriteFile("../README.md", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("README.md's metric list differs from ctrl/metricdocs.go: run `make readme`")
}
