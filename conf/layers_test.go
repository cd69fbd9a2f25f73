package conf

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goList returns the project packages pkgs depend on (themselves included),
// as go list -deps prints them.
func goList(t *testing.T, pkgs ...string) []string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Fatal("the go command is needed to check the package layers")
		}
	}
	cmd := exec.Command(gobin, append([]string{"list", "-deps"}, pkgs...)...)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %v: %v\n%s", pkgs, err, out)
	}
	var own []string
	for _, p := range strings.Fields(string(out)) {
		if p == "dsrlb" || strings.HasPrefix(p, "dsrlb/") {
			own = append(own, p)
		}
	}
	return own
}

// TestLayers keeps the layering of the design: conf is the bottom and
// imports nothing of the project; the data plane's runtime and the control
// process share only the contract (conf/wire, perf/shm, perf/counters, perf/stats) and
// neither imports the other; the control process needs no DPDK.
func TestLayers(t *testing.T) {
	if deps := goList(t, "./conf"); len(deps) != 1 || deps[0] != "dsrlb/conf" {
		t.Errorf("conf imports project packages: %v", deps)
	}
	for _, p := range goList(t, "./hw/dataplane", "./cmd/dsrlb-dataplane") {
		if strings.HasPrefix(p, "dsrlb/ctrl") {
			t.Errorf("the data plane imports the control process's %s", p)
		}
	}
	for _, p := range goList(t, "./ctrl/...", "./cmd/dsrlb-ctrl") {
		for _, dp := range []string{"dsrlb/hw", "dsrlb/dpdk", "dsrlb/pipeline"} {
			if p == dp || strings.HasPrefix(p, dp+"/") {
				t.Errorf("the control process imports the data plane's %s", p)
			}
		}
	}
	for _, p := range goList(t, "./conf/wire", "./perf/shm", "./perf/counters", "./perf/stats") {
		switch p {
		case "dsrlb/conf", "dsrlb/conf/wire", "dsrlb/perf/shm", "dsrlb/perf/counters", "dsrlb/perf/stats":
		default:
			t.Errorf("the contract between the processes imports %s", p)
		}
	}
	// The stats reader is for any exporter: the shared-memory file and the
	// standard library only.
	for _, p := range goList(t, "./perf/stats") {
		if p != "dsrlb/perf/stats" && p != "dsrlb/perf/shm" {
			t.Errorf("perf/stats imports %s", p)
		}
	}
}

// TestOneTransactionMachine: the command protocol's state machine is
// conf/wire's Receiver; no other file (the data plane's runtime, the
// tests' fake data plane) handles SyncCommit itself.
func TestOneTransactionMachine(t *testing.T) {
	root := ".."
	needle := "case wire." + "KindSyncCommit" // split, so this file does not match
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel != filepath.Join("conf", "wire", "receiver.go") && strings.Contains(string(b), needle) {
			t.Errorf("%s handles SyncCommit itself; use wire.Receiver", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
