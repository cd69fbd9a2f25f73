package wire

import (
	"path/filepath"
	"testing"

	"dsrlb/conf"
	"dsrlb/perf/shm"
	"dsrlb/perf/stats"
)

// TestStatsCapacities keeps conf's limits of stats_services and
// stats_backends inside what the stats section and the shared-memory file
// hold, with the most workers a configuration may have.
func TestStatsCapacities(t *testing.T) {
	if conf.MaxStatsServices+1 != stats.MaxServiceSlots || conf.MaxStatsBackends+1 != stats.MaxBackendSlots {
		t.Fatalf("conf allows %d and %d slots, perf/stats %d and %d (overflow slots included)",
			conf.MaxStatsServices, conf.MaxStatsBackends, stats.MaxServiceSlots, stats.MaxBackendSlots)
	}
	if g := StatsGeometry(64, 8, conf.MaxStatsServices, conf.MaxStatsBackends); g.StatsBytes > shm.MaxStatsBytes {
		t.Fatalf("the largest stats section, %d bytes, exceeds shm's %d", g.StatsBytes, shm.MaxStatsBytes)
	}
	// The default geometry makes a file whose section Init lays out.
	r, _, err := shm.Create(filepath.Join(t.TempDir(), "shm"), Geometry(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := stats.Init(r, 2, conf.DefaultStatsServices, conf.DefaultStatsBackends)
	if err != nil {
		t.Fatal(err)
	}
	if w.ServiceSlots() != conf.DefaultStatsServices || w.BackendSlots() != conf.DefaultStatsBackends {
		t.Fatalf("slots %d %d", w.ServiceSlots(), w.BackendSlots())
	}
	if _, err := stats.Read(r); err != nil {
		t.Fatal(err)
	}
}
