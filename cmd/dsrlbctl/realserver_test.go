package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFirstExisting: the eBPF object next to dsrlbctl wins, the packaged
// one is taken when there is none, and with neither the error names the
// first place.
func TestFirstExisting(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "bin", "dsrlb-decap.o")
	installed := filepath.Join(dir, "usr", "lib", "dsrlb", "dsrlb-decap.o")
	if got := firstExisting(local, installed); got != local {
		t.Errorf("neither exists: got %s, want %s", got, local)
	}
	for _, p := range []string{installed, local} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(installed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := firstExisting(local, installed); got != installed {
		t.Errorf("only the installed one exists: got %s, want %s", got, installed)
	}
	if err := os.WriteFile(local, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := firstExisting(local, installed); got != local {
		t.Errorf("both exist: got %s, want %s", got, local)
	}
}
