package counters

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"dsrlb/perf/shm"
)

var update = flag.Bool("update", false, "rewrite the README's counters table")

// TestREADMETable fails when the README's table and the tables here
// disagree; `make readme` (go test -run README -update) rewrites it.
func TestREADMETable(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := ReplaceTable(string(b))
	if !ok {
		t.Fatalf("README.md has no counters table between %q and %q", BeginMarker, EndMarker)
	}
	if got == string(b) {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("README.md's counters table differs from perf/counters: run `make readme`")
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func TestTables(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range All() {
		if !nameRE.MatchString(d.Name) || seen[d.Name] {
			t.Errorf("counter name %q: not snake case, or twice", d.Name)
		}
		seen[d.Name] = true
		if d.Help == "" || d.Unit == "" {
			t.Errorf("%s: no help or no unit", d.Name)
		}
		if Table(d.Scope)[Index(d.Scope, d.Name)] != d {
			t.Errorf("%s: not in the table of its scope %s", d.Name, d.Scope)
		}
	}
	for _, s := range []Scope{Worker, Port, Global} {
		if Bytes(s) != 8*len(Table(s)) || Index(s, "no such counter") != -1 {
			t.Errorf("scope %s", s)
		}
	}
}

func TestRead(t *testing.T) {
	r, _, err := shm.Create(filepath.Join(t.TempDir(), "shm"), shm.Geometry{SlotSize: 64, Slots: 2,
		Workers: 2, WorkerBytes: Bytes(Worker), Ports: 3, PortBytes: Bytes(Port), GlobalBytes: Bytes(Global)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fwd := 8 * Index(Worker, "forward")
	shm.Counter(r.Worker(0), fwd).Store(5)
	shm.Counter(r.Worker(1), fwd).Store(7)
	shm.Counter(r.Port(2), 8*Index(Port, "tx_refused")).Store(3)
	shm.Counter(r.Global(), 8*Index(Global, "commits")).Store(9)
	v := Read(r)
	if len(v.Workers) != len(Workers) || len(v.PerWorker) != 2 || len(v.Ports) != 3 || len(v.Global) != len(Globals) {
		t.Fatalf("shape %d %d %d %d", len(v.Workers), len(v.PerWorker), len(v.Ports), len(v.Global))
	}
	if v.Workers[fwd/8] != 12 || v.PerWorker[1][fwd/8] != 7 || v.Ports[2][Index(Port, "tx_refused")] != 3 || v.Global[Index(Global, "commits")] != 9 {
		t.Fatalf("values %+v", v)
	}
}
