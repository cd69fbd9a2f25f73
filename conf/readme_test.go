package conf

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEExamplesParse keeps the README true: every TOML block in it is
// a complete, valid configuration.
func TestREADMEExamplesParse(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	rest := string(data)
	for {
		i := strings.Index(rest, "```toml\n")
		if i < 0 {
			break
		}
		rest = rest[i+len("```toml\n"):]
		j := strings.Index(rest, "```")
		if j < 0 {
			t.Fatal("unterminated toml block in README.md")
		}
		blocks++
		if _, err := Parse("README.md block", []byte(rest[:j])); err != nil {
			t.Errorf("README.md TOML block %d does not parse:\n%v", blocks, err)
		}
		rest = rest[j+3:]
	}
	if blocks == 0 {
		t.Fatal("README.md has no TOML example")
	}
}
