package dataplane

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/conf/wire"
	"dsrlb/perf/stats"
	"dsrlb/pipeline"
)

func model(services ...wire.ServiceModel) wire.Model { return wire.Model{Services: services} }

func svcModel(name, vip string, port uint16, backends ...string) wire.ServiceModel {
	m := wire.ServiceModel{Service: wire.Service{Name: name, VIP: netip.MustParseAddr(vip), Proto: 6, Port: port, Method: "l2dsr", TableSize: 251}}
	for _, a := range backends {
		m.Backends = append(m.Backends, wire.Backend{Service: name, Addr: netip.MustParseAddr(a), Weight: 1, State: wire.StateUp})
	}
	return m
}

func apply(t *testing.T, dp *Dataplane, m wire.Model) {
	t.Helper()
	if err := dp.Apply(m); err != nil {
		t.Fatal(err)
	}
}

func readStats(t *testing.T, dp *Dataplane) *stats.Snapshot {
	t.Helper()
	s, err := stats.Read(dp.shm)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// byName indexes a snapshot's services, and each one's real servers by
// address.
func byName(s *stats.Snapshot) map[string]stats.Service {
	m := map[string]stats.Service{}
	for _, v := range s.Services {
		m[v.Name] = v
	}
	return m
}

func backendOf(v stats.Service, addr string) (stats.Backend, bool) {
	for _, b := range v.Backends {
		if b.Addr == netip.MustParseAddr(addr) {
			return b, true
		}
	}
	return stats.Backend{}, false
}

// tcp is a TCP segment from a client to vip:port.
func tcp(t *testing.T, vip string, sport, dport uint16) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("198.51.100.7").To4(), DstIP: net.ParseIP(vip).To4()}
	seg := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), ACK: true, Window: 100}
	seg.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0xc1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4},
		ip, seg, gopacket.Payload("x"))
	if err != nil {
		t.Fatal(err)
	}
	return append(make([]byte, 128), buf.Bytes()...)
}

// send runs n flows to vip:port through w with the data plane's snapshot
// and publishes.
func send(t *testing.T, dp *Dataplane, w *pipeline.Worker, vip string, port uint16, n int) {
	t.Helper()
	for i := range n {
		f := tcp(t, vip, uint16(2000+i), port)
		pk := []pipeline.Packet{{Buf: f, Off: 128, Len: len(f) - 128}}
		w.Process(dp.snap.Load(), 0, pk)
		if pk[0].Verdict != pipeline.Forward {
			t.Fatalf("verdict %v", pk[0].Verdict)
		}
	}
	w.Publish()
}

// TestStatSlotsAcrossTransactions: slots stay with their service and real
// server across transactions and MAC-driven rebuilds; counts through the
// shared memory never go back while a real server stays; a real server
// removed and added again counts from zero in a slot of a new epoch.
func TestStatSlotsAcrossTransactions(t *testing.T) {
	dp := newTestDataplane(t)
	w := pipeline.NewWorkerWith(0, pipeline.WorkerOptions{Stats: workerStats(dp.slots.dir, 0), Conntrack: 4096})
	apply(t, dp, model(svcModel("web", "192.0.2.100", 80, "192.0.2.21", "192.0.2.22")))
	s := readStats(t, dp)
	web := byName(s)["web"]
	if len(s.Services) != 1 || web.Slot != 1 || web.Epoch != 1 || web.VIP != netip.MustParseAddr("192.0.2.100") || web.Port != 80 ||
		web.Proto != 6 || web.Method != "l2dsr" || len(web.Backends) != 2 {
		t.Fatalf("directory %+v", s.Services)
	}
	rs21, _ := backendOf(web, "192.0.2.21")
	rs22, _ := backendOf(web, "192.0.2.22")
	send(t, dp, w, "192.0.2.100", 80, 100)
	web = byName(readStats(t, dp))["web"]
	if web.Counters.Packets != 100 || web.Counters.NewFlows != 100 {
		t.Fatalf("web counters %+v", web.Counters)
	}
	a21, _ := backendOf(web, "192.0.2.21")
	a22, _ := backendOf(web, "192.0.2.22")
	if a21.Counters.Packets+a22.Counters.Packets != 100 || a21.Counters.Packets == 0 || a22.Counters.Packets == 0 {
		t.Fatalf("real servers %+v %+v", a21.Counters, a22.Counters)
	}

	// A MAC refresh rebuilds the snapshot: the same slots, counts go on.
	before := dp.snap.Load()
	if err := dp.rebuild(); err != nil {
		t.Fatal(err)
	}
	if dp.snap.Load() == before {
		t.Fatal("no new snapshot")
	}
	send(t, dp, w, "192.0.2.100", 80, 100) // the same flows again
	web = byName(readStats(t, dp))["web"]
	if web.Counters.Packets != 200 || web.Counters.NewFlows != 100 {
		t.Fatalf("after a rebuild web %+v", web.Counters)
	}

	// A transaction adds a service and removes rs22: web and rs21 keep
	// their slots and counts; dns gets the next slot, and its real server
	// rs22's freed slot at the next epoch, from zero.
	apply(t, dp, model(svcModel("dns", "192.0.2.101", 53, "192.0.2.23"), svcModel("web", "192.0.2.100", 80, "192.0.2.21")))
	m := byName(readStats(t, dp))
	web, dns := m["web"], m["dns"]
	b21, ok := backendOf(web, "192.0.2.21")
	if web.Slot != 1 || web.Epoch != 1 || web.Counters.Packets != 200 || !ok || b21.Slot != rs21.Slot || b21.Epoch != rs21.Epoch ||
		b21.Counters.Packets != a21.Counters.Packets*2 || len(web.Backends) != 1 {
		t.Fatalf("web after the transaction %+v", web)
	}
	if dns.Slot != 2 || dns.Epoch != 1 || len(dns.Backends) != 1 || dns.Backends[0].Slot != rs22.Slot ||
		dns.Backends[0].Epoch != rs22.Epoch+1 || dns.Backends[0].Counters != (stats.BackendCounters{}) {
		t.Fatalf("dns %+v", dns)
	}
	w.Publish()
	if got := w.Stats().Backends[rs22.Slot]; got.Packets != a22.Counters.Packets*2 || got.Epoch != rs22.Epoch {
		t.Fatalf("the worker's slot %+v changed before it saw the new snapshot", got)
	}

	// rs22 back: another slot, counting from zero; the service's count
	// goes on.
	apply(t, dp, model(svcModel("dns", "192.0.2.101", 53, "192.0.2.23"), svcModel("web", "192.0.2.100", 80, "192.0.2.21", "192.0.2.22")))
	web = byName(readStats(t, dp))["web"]
	back, ok := backendOf(web, "192.0.2.22")
	if !ok || back.Slot == rs22.Slot || back.Counters != (stats.BackendCounters{}) {
		t.Fatalf("re-added rs22 %+v (was %+v)", back, rs22)
	}
	// Flows 0..99 are known but rs22's, forgotten with it (its backend
	// reference is a new one) and scheduled again; 200 are new.
	send(t, dp, w, "192.0.2.100", 80, 300)
	web = byName(readStats(t, dp))["web"]
	back, _ = backendOf(web, "192.0.2.22")
	b21, _ = backendOf(web, "192.0.2.21")
	if web.Counters.Packets != 500 || web.Counters.NewFlows != 300+a22.Counters.NewFlows || back.Counters.Packets == 0 ||
		b21.Counters.Packets+back.Counters.Packets+2*a22.Counters.Packets != 500 {
		t.Fatalf("web %+v, rs21 %+v, rs22 %+v: rs22 counts only what came after it was added again", web.Counters, b21.Counters, back.Counters)
	}

	// The service removed: gone from the directory; a new service takes
	// its slot at the next epoch and starts from zero.
	apply(t, dp, model(svcModel("dns", "192.0.2.101", 53, "192.0.2.23")))
	apply(t, dp, model(svcModel("dns", "192.0.2.101", 53, "192.0.2.23"), svcModel("mail", "192.0.2.102", 25, "192.0.2.21")))
	m = byName(readStats(t, dp))
	if _, ok := m["web"]; ok || m["mail"].Slot != 1 || m["mail"].Epoch != 2 || m["mail"].Counters != (stats.ServiceCounters{}) {
		t.Fatalf("after web's removal %+v", m)
	}
	if m["dns"].Slot != 2 || m["dns"].Epoch != 1 {
		t.Fatalf("dns moved: %+v", m["dns"])
	}
}

// TestStatSlotsRefusedTransaction: a configuration the pipeline refuses
// changes no slot.
func TestStatSlotsRefusedTransaction(t *testing.T) {
	dp := newTestDataplane(t)
	apply(t, dp, model(svcModel("web", "192.0.2.100", 80, "192.0.2.21")))
	bad := model(svcModel("dns", "192.0.2.101", 53, "192.0.2.23"), svcModel("web", "192.0.2.100", 80, "192.0.2.21", "198.51.100.9"))
	if err := dp.Apply(bad); err == nil {
		t.Fatal("a real server that is not on-link accepted")
	}
	s := readStats(t, dp)
	if len(s.Services) != 1 || s.Services[0].Name != "web" || len(s.Services[0].Backends) != 1 {
		t.Fatalf("directory after a refused transaction %+v", s.Services)
	}
	apply(t, dp, model(svcModel("dns", "192.0.2.101", 53, "192.0.2.23"), svcModel("web", "192.0.2.100", 80, "192.0.2.21")))
	if m := byName(readStats(t, dp)); m["web"].Slot != 1 || m["dns"].Slot != 2 || m["dns"].Epoch != 1 {
		t.Fatalf("slots %+v", m)
	}
}

// TestStatSlotsOverflow: with one service slot and two real-server slots,
// the rest is forwarded and counted in the overflow slots, and said so.
func TestStatSlotsOverflow(t *testing.T) {
	dp := newTestDataplaneWith(t, strings.Replace(testConfig, "workers = [1]\n", "workers = [1]\nstats_services = 1\nstats_backends = 2\n", 1))
	w := pipeline.NewWorkerWith(0, pipeline.WorkerOptions{Stats: workerStats(dp.slots.dir, 0), Conntrack: 4096})
	apply(t, dp, model(
		svcModel("web", "192.0.2.100", 80, "192.0.2.21", "192.0.2.22", "192.0.2.23"),
		svcModel("dns", "192.0.2.101", 53, "192.0.2.23")))
	send(t, dp, w, "192.0.2.100", 80, 60)
	send(t, dp, w, "192.0.2.101", 53, 10)
	s := readStats(t, dp)
	if s.UnslottedServices != 1 || s.UnslottedBackends != 2 || len(s.Services) != 1 || len(s.Services[0].Backends) != 2 {
		t.Fatalf("unslotted %d %d, services %+v", s.UnslottedServices, s.UnslottedBackends, s.Services)
	}
	web := s.Services[0]
	var slotted uint64
	for _, b := range web.Backends {
		slotted += b.Counters.Packets
	}
	if web.Counters.Packets != 60 || s.Overflow.Services.Packets != 10 ||
		s.Overflow.Backends.Packets != 60-slotted+10 || s.Overflow.Backends.NewFlows != 60-slotted+10 {
		t.Fatalf("web %+v (real servers %d), overflow %+v", web.Counters, slotted, s.Overflow)
	}
	// Room again: dns takes the freed slot at the next transaction.
	apply(t, dp, model(svcModel("dns", "192.0.2.101", 53, "192.0.2.23")))
	s = readStats(t, dp)
	if s.UnslottedServices != 0 || s.UnslottedBackends != 0 || len(s.Services) != 1 || s.Services[0].Name != "dns" ||
		s.Services[0].Epoch != 2 || len(s.Services[0].Backends) != 1 {
		t.Fatalf("after web left: %+v", s)
	}
}
