package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExitCodes checks that bad input stops the data plane before DPDK
// starts, with exit status 1, and that -check passes a valid file.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.toml", `[dataplane]
workers = [1]
eal_args = ["--no-huge"]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "net_null0"
[[service]]
name = "web"
vip = "192.0.2.100"
port = 80
  [[service.backend]]
  address = "192.0.2.21"
`)
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"valid config, check only", []string{"-check", "-c", good}, 0},
		{"missing file", []string{"-check", "-c", filepath.Join(dir, "none.toml")}, 1},
		{"bad TOML", []string{"-c", write("syntax.toml", "[dataplane\n")}, 1},
		{"weight out of range", []string{"-c", write("weight.toml", `[dataplane]
workers = [1]
eal_args = ["--no-huge"]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "net_null0"
[[service]]
name = "web"
vip = "192.0.2.100"
  [[service.backend]]
  address = "192.0.2.21"
  weight = 70000
`)}, 1},
		{"CPU that does not exist", []string{"-c", write("cpu.toml", `[dataplane]
workers = [1023]
eal_args = ["--no-huge"]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "net_null0"
`)}, 1},
		{"unknown flag", []string{"-frobnicate"}, 2},
		{"bad log level", []string{"-log-level", "loud", "-check", "-c", good}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := run(c.args); got != c.want {
				t.Fatalf("run(%q) = %d, want %d", c.args, got, c.want)
			}
		})
	}
}
