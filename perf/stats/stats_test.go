package stats

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"dsrlb/perf/shm"
)

// newSection makes a shared-memory file with a stats section for workers
// and the slot counts, and its writer.
func newSection(t testing.TB, workers, services, backends int) (*shm.Region, *Writer) {
	t.Helper()
	r, _, err := shm.Create(filepath.Join(t.TempDir(), "shm"), shm.Geometry{SlotSize: 64, Slots: 2,
		StatsBytes: Bytes(workers, services, backends)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	w, err := Init(r, workers, services, backends)
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

// put stores a worker's counter slot as the worker publishes it.
func put(b []byte, slot, slotWords int, vals ...uint64) {
	for i, v := range vals {
		shm.Counter(b, 8*(slot*slotWords+i)).Store(v)
	}
}

var (
	vip  = netip.MustParseAddr("192.0.2.100")
	vip6 = netip.MustParseAddr("2001:db8::100")
	rs1  = netip.MustParseAddr("192.0.2.21")
	rs2  = netip.MustParseAddr("2001:db8::22")
)

func TestReadSumsWorkersOfTheCurrentEpoch(t *testing.T) {
	r, w := newSection(t, 3, 4, 8)
	if w.ServiceSlots() != 4 || w.BackendSlots() != 8 {
		t.Fatalf("slots %d %d", w.ServiceSlots(), w.BackendSlots())
	}
	w.SetService(1, 1, ServiceID{Name: "web", VIP: vip, Proto: 6, Port: 80, Method: "l2dsr"})
	w.SetService(3, 2, ServiceID{Name: "dns6", VIP: vip6, Proto: 17, Port: 53, Method: "ipip"})
	w.SetBackend(1, 1, BackendID{Service: 1, ServiceEpoch: 1, Addr: rs1, Method: "l2dsr"})
	w.SetBackend(5, 3, BackendID{Service: 3, ServiceEpoch: 2, Addr: rs2, Method: "gue"})
	w.SetUnslotted(2, 7)
	for k := range 3 {
		g, svc, bk := w.Worker(k)
		// entries, capacity, expired, then entries by state
		for i, v := range []uint64{uint64(100 + k), 1024, uint64(k), 10, uint64(80 + k), 6, 4} {
			shm.Counter(g, 8*i).Store(v)
		}
		// service 1: epoch 1 on workers 0 and 1; worker 2 still has the
		// slot's previous owner (epoch 0 here): not counted.
		epoch := uint64(1)
		if k == 2 {
			epoch = 0
		}
		put(svc, 1, serviceSlotWords, epoch, 10, 1000, 3, 1, 5, 6, 7, 8, 9, 10, 11)
		put(svc, 3, serviceSlotWords, 2, 1, 2, 3, 4)
		put(svc, 0, serviceSlotWords, 0, 50, 5000, 5)
		// epoch, packets, bytes, new flows, active and inactive
		// connections; the overflow slot has no connection gauges.
		put(bk, 1, backendSlotWords, epoch, 9, 900, 2, 7, 3)
		put(bk, 5, backendSlotWords, 3, 4, 400, 1, uint64(k), 1)
		put(bk, 0, backendSlotWords, 0, 40, 4000, 4)
	}
	s, err := Read(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Services) != 2 || s.Torn != 0 || s.UnslottedServices != 2 || s.UnslottedBackends != 7 {
		t.Fatalf("snapshot %+v", s)
	}
	web, dns := s.Services[0], s.Services[1]
	if web.Slot != 1 || web.Epoch != 1 || web.Name != "web" || web.VIP != vip || web.Proto != 6 || web.Port != 80 || web.Method != "l2dsr" {
		t.Fatalf("web %+v", web)
	}
	want := ServiceCounters{Packets: 20, Bytes: 2000, NewFlows: 6, ICMPErrors: 2, Drops: [NumDrops]uint64{10, 12, 14, 16, 18, 20, 22}}
	if web.Counters != want {
		t.Fatalf("web counters %+v, want %+v", web.Counters, want)
	}
	// Worker 2's connections belong to the slot's previous owner.
	if len(web.Backends) != 1 || web.Backends[0].Addr != rs1 || web.Backends[0].Slot != 1 || web.Backends[0].Method != "l2dsr" ||
		web.Backends[0].Counters != (BackendCounters{Packets: 18, Bytes: 1800, NewFlows: 4, ActiveConns: 14, InactiveConns: 6}) {
		t.Fatalf("web backends %+v", web.Backends)
	}
	if a, i := web.Connections(); a != 14 || i != 6 {
		t.Fatalf("web connections %d active, %d inactive", a, i)
	}
	if dns.Slot != 3 || dns.Epoch != 2 || dns.Name != "dns6" || dns.VIP != vip6 || dns.Proto != 17 || dns.Method != "ipip" ||
		dns.Counters != (ServiceCounters{Packets: 3, Bytes: 6, NewFlows: 9, ICMPErrors: 12}) {
		t.Fatalf("dns %+v", dns)
	}
	if len(dns.Backends) != 1 || dns.Backends[0].Addr != rs2 || dns.Backends[0].Epoch != 3 || dns.Backends[0].Method != "gue" ||
		dns.Backends[0].Counters != (BackendCounters{Packets: 12, Bytes: 1200, NewFlows: 3, ActiveConns: 3, InactiveConns: 3}) {
		t.Fatalf("dns backends %+v", dns.Backends)
	}
	if s.Overflow.Services != (ServiceCounters{Packets: 150, Bytes: 15000, NewFlows: 15}) ||
		s.Overflow.Backends != (BackendCounters{Packets: 120, Bytes: 12000, NewFlows: 12}) {
		t.Fatalf("overflow %+v", s.Overflow)
	}
	if len(s.Workers) != 3 || s.Workers[2] != (Worker{ConntrackEntries: 102, ConntrackCapacity: 1024, ConntrackExpired: 2,
		ConntrackSyn: 10, ConntrackEstablished: 82, ConntrackClosing: 6, ConntrackUDP: 4}) {
		t.Fatalf("workers %+v", s.Workers)
	}

	// The slot freed: gone with its real server. Given to another service
	// at a new epoch: the workers' counts of the old epoch do not count.
	w.FreeService(1)
	w.FreeBackend(1)
	if s, _ := Read(r); len(s.Services) != 1 || s.Services[0].Name != "dns6" {
		t.Fatalf("after free: %+v", s.Services)
	}
	w.SetService(1, 2, ServiceID{Name: "mail", VIP: vip, Proto: 6, Port: 25, Method: "dscp"})
	w.SetBackend(1, 2, BackendID{Service: 1, ServiceEpoch: 2, Addr: rs1, Method: "dscp"})
	s, _ = Read(r)
	if m := s.Services[0]; m.Name != "mail" || m.Epoch != 2 || m.Counters != (ServiceCounters{}) ||
		len(m.Backends) != 1 || m.Backends[0].Counters != (BackendCounters{}) {
		t.Fatalf("reused slot %+v", m)
	}
	if a, i := s.Services[0].Connections(); a != 0 || i != 0 {
		t.Fatalf("reused slot has the previous owner's connections: %d active, %d inactive", a, i)
	}
	// A real server naming its service's previous epoch is not attached.
	w.SetBackend(2, 1, BackendID{Service: 3, ServiceEpoch: 1, Addr: rs1})
	if s, _ := Read(r); len(s.Services[1].Backends) != 1 {
		t.Fatalf("a real server of a stale service epoch was attached: %+v", s.Services[1].Backends)
	}
}

func TestTornRecordIsNeverReturned(t *testing.T) {
	r, w := newSection(t, 1, 2, 2)
	w.SetService(1, 1, ServiceID{Name: "web", VIP: vip, Proto: 6, Port: 80, Method: "l2dsr"})
	w.SetService(2, 1, ServiceID{Name: "dns", VIP: vip, Proto: 17, Port: 53, Method: "l2dsr"})
	w.SetBackend(1, 1, BackendID{Service: 2, ServiceEpoch: 1, Addr: rs1, Method: "l2dsr"})
	// The data plane stopped in the middle of rewriting service 1 and
	// real server 1: sequence odd.
	seq := func(off uint64) *atomic.Uint64 { return shm.Counter(r.Stats(), int(off)) }
	seq(w.l.serviceDir + ServiceRecordBytes).Add(1)
	seq(w.l.backendDir + BackendRecordBytes).Add(1)
	s, err := Read(r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Torn != 2 || len(s.Services) != 1 || s.Services[0].Name != "dns" || len(s.Services[0].Backends) != 0 {
		t.Fatalf("torn records returned: %+v", s)
	}
}

// TestSeqlockUnderRewrites: the main goroutine rewrites a record between
// two identities as fast as it can; every read returns one of them whole.
func TestSeqlockUnderRewrites(t *testing.T) {
	r, w := newSection(t, 1, 1, 1)
	ids := []ServiceID{
		{Name: "alpha", VIP: vip, Proto: 6, Port: 80, Method: "l2dsr"},
		{Name: "a-much-longer-service-name-for-beta", VIP: vip6, Proto: 17, Port: 5353, Method: "gue"},
	}
	w.SetService(1, 1, ids[0])
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			w.SetService(1, uint64(1+i%2), ids[i%2])
		}
	}()
	seen := map[string]int{}
	for range 20000 {
		s, err := Read(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Services) == 0 {
			continue // torn for every try: skipped
		}
		v := s.Services[0]
		i := int(v.Epoch - 1)
		if i < 0 || i > 1 || v.Name != ids[i].Name || v.VIP != ids[i].VIP || v.Port != ids[i].Port || v.Method != ids[i].Method {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("mixed record: %+v", v)
		}
		seen[v.Name]++
	}
	stop.Store(true)
	wg.Wait()
	if len(seen) == 0 {
		t.Fatal("no read got through")
	}
}

func TestReadErrors(t *testing.T) {
	// No section at all.
	r, _, err := shm.Create(filepath.Join(t.TempDir(), "shm"), shm.Geometry{SlotSize: 64, Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := Read(r); !errors.Is(err, ErrNoSection) {
		t.Fatalf("no section: %v", err)
	}
	if _, err := Init(r, 1, 1, 1); !errors.Is(err, ErrNoSection) {
		t.Fatalf("Init without a section: %v", err)
	}
	// A section not yet initialised, of another version, and corrupt.
	r2, _, err := shm.Create(filepath.Join(t.TempDir(), "shm"), shm.Geometry{SlotSize: 64, Slots: 2, StatsBytes: Bytes(2, 4, 4)})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := Read(r2); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before Init: %v", err)
	}
	if _, err := Init(r2, 2, 5, 4); err == nil {
		t.Fatal("Init of more slots than the section holds succeeded")
	}
	w, err := Init(r2, 2, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(r2); err != nil {
		t.Fatal(err)
	}
	sec := r2.Stats()
	// Version 1 (real-server slots without connection gauges) and a
	// later one are another build's.
	for _, v := range []uint32{1, Version + 1} {
		version(w.w).Store(v)
		if _, err := Read(r2); !errors.Is(err, ErrVersion) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	version(w.w).Store(Version)
	for _, c := range []struct {
		off int
		v   uint64
	}{
		{offWorkers, 3}, {offWorkers, MaxWorkers + 1}, {offServiceSlots, 0}, {offServiceSlots, 1 << 40},
		{offBackendSlots, 6}, {offWorkerBytes, 64}, {offServiceDir, 0}, {offBackendDir, 1}, {offWorkerBlocks, 1 << 62},
	} {
		old := shm.Counter(sec, c.off).Swap(c.v)
		if _, err := Read(r2); !errors.Is(err, ErrCorrupt) {
			t.Errorf("header word %d = %d: %v, want ErrCorrupt", c.off, c.v, err)
		}
		shm.Counter(sec, c.off).Store(old)
	}
	if _, err := Read(r2); err != nil {
		t.Fatal(err)
	}
}

func TestNamesAreCut(t *testing.T) {
	r, w := newSection(t, 1, 1, 0)
	long := fmt.Sprintf("%070d", 7)
	w.SetService(1, 1, ServiceID{Name: long, VIP: vip, Proto: 6, Method: "a-method-too-long"})
	s, err := Read(r)
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Services[0]; v.Name != long[:MaxNameBytes] || v.Method != "a-method" {
		t.Fatalf("%q %q", v.Name, v.Method)
	}
}

func TestWriterSlotBounds(t *testing.T) {
	_, w := newSection(t, 1, 2, 2)
	for _, f := range []func(){
		func() { w.SetService(0, 1, ServiceID{}) },
		func() { w.SetService(3, 1, ServiceID{}) },
		func() { w.FreeBackend(3) },
		func() { w.Worker(1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("out-of-range slot accepted")
				}
			}()
			f()
		}()
	}
	g, s, b := w.Worker(0)
	if len(g) != WorkerGaugeBytes || len(s) != 3*ServiceSlotBytes || len(b) != 3*BackendSlotBytes {
		t.Fatalf("worker block %d %d %d", len(g), len(s), len(b))
	}
}

// TestLayoutOfVersion2 pins the sizes the package documentation gives
// (the data plane's structs are checked against the constants).
func TestLayoutOfVersion2(t *testing.T) {
	if Version != 2 || ServiceSlotBytes != 96 || BackendSlotBytes != 48 || backendSlotWords != 6 || gaugeCTUDP != 6 {
		t.Fatalf("version %d: service slot %d bytes, real-server slot %d bytes (%d words), last gauge word %d",
			Version, ServiceSlotBytes, BackendSlotBytes, backendSlotWords, gaugeCTUDP)
	}
	// 2 workers, 3+1 service slots, 5+1 real-server slots: the directory
	// ends at 128 + 4*128 + 6*64 = 1024; a worker block is 64 + 4*96 +
	// 6*48 = 736 bytes, rounded up to 768.
	if n := Bytes(2, 3, 5); n != 1024+2*768 {
		t.Fatalf("Bytes(2, 3, 5) = %d, want %d", n, 1024+2*768)
	}
}

// BenchmarkRead is a scrape of a large installation: 1000 services of 8
// real servers each on 4 workers.
func BenchmarkRead(b *testing.B) {
	r, w := newSection(b, 4, 1024, 8192)
	for i := range 1000 {
		w.SetService(uint32(1+i), 1, ServiceID{Name: fmt.Sprintf("svc-%d", i), VIP: vip, Proto: 6, Port: uint16(i), Method: "l2dsr"})
		for j := range 8 {
			w.SetBackend(uint32(1+8*i+j), 1, BackendID{Service: uint32(1 + i), ServiceEpoch: 1, Addr: rs1, Method: "l2dsr"})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(r); err != nil {
			b.Fatal(err)
		}
	}
}
