package pipeline

import (
	"dsrlb/conf"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/pipeline/header"
)

var rs3MAC = header.MAC{0x02, 0, 0, 0, 0, 0x23}

func allResolved(ip netip.Addr) (Neighbor, bool) {
	switch ip {
	case rs1:
		return Neighbor{MAC: rs1MAC}, true
	case rs2:
		return Neighbor{MAC: rs2MAC}, true
	case rs3:
		return Neighbor{MAC: rs3MAC}, true
	}
	return Neighbor{}, false
}

func webConfig(backends ...BackendConfig) *Config {
	return &Config{Own4: own, PortMACs: []header.MAC{portMAC}, Services: []ServiceConfig{
		{Name: "web", VIP: vip, Proto: header.IPProtoTCP, Port: 80, Method: conf.MethodL2DSR, Size: 65537, Backends: backends},
	}}
}

// flowsTo sends one packet of each of n flows and returns the real server
// MAC each went to.
func flowsTo(t *testing.T, w *Worker, s *Snapshot, n int) []header.MAC {
	t.Helper()
	out := make([]header.MAC, n)
	for i := range out {
		p, f := run(t, w, s, tcpFrame(t, client, vip, uint16(10000+i), 80))
		if p.Verdict != Forward {
			t.Fatalf("flow %d: verdict %v", i, p.Verdict)
		}
		out[i] = header.Ethernet(f).Dst()
	}
	return out
}

func build(t *testing.T, cfg *Config, prev *Snapshot) *Snapshot {
	t.Helper()
	s, _, err := Build(cfg, allResolved, prev, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConntrackKeepsFlowsWhenServerAdded(t *testing.T) {
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 14})
	s1 := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 1}, BackendConfig{Addr: rs2, Weight: 1}), nil)
	before := flowsTo(t, w, s1, 2000)
	s2 := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 1}, BackendConfig{Addr: rs2, Weight: 1}, BackendConfig{Addr: rs3, Weight: 1}), s1)
	after := flowsTo(t, w, s2, 2000)
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("flow %d moved from %v to %v when a real server was added", i, before[i], after[i])
		}
	}
	// New flows reach the new real server.
	fresh := NewWorkerWith(1, WorkerOptions{Conntrack: 1 << 14})
	n3 := 0
	for _, m := range flowsTo(t, fresh, s2, 2000) {
		if m == rs3MAC {
			n3++
		}
	}
	if n3 < 2000/3*8/10 {
		t.Fatalf("new real server got %d of 2000 new flows", n3)
	}
	w.Publish()
	c := w.Shared.Load()
	if c.CTHits != 2000 || c.CTMisses != 2000 {
		t.Fatalf("conntrack hits %d misses %d, want 2000 each", c.CTHits, c.CTMisses)
	}
}

func TestConntrackDrainAndRemoval(t *testing.T) {
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 14})
	s1 := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 1}, BackendConfig{Addr: rs2, Weight: 1}), nil)
	before := flowsTo(t, w, s1, 1000)
	// rs1 drained (weight 0): its flows stay, no new flow goes there.
	s2 := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 0}, BackendConfig{Addr: rs2, Weight: 1}), s1)
	after := flowsTo(t, w, s2, 1000)
	on1 := 0
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("flow %d moved while its real server drains", i)
		}
		if before[i] == rs1MAC {
			on1++
		}
	}
	if on1 == 0 {
		t.Fatal("no flow was on rs1 to begin with")
	}
	fresh := NewWorkerWith(1, WorkerOptions{Conntrack: 1 << 14})
	for i, m := range flowsTo(t, fresh, s2, 500) {
		if m == rs1MAC {
			t.Fatalf("new flow %d went to the draining real server", i)
		}
	}
	// rs1 removed: its flows are scheduled again, onto rs2.
	s3 := build(t, webConfig(BackendConfig{Addr: rs2, Weight: 1}), s2)
	for i, m := range flowsTo(t, w, s3, 1000) {
		if m != rs2MAC {
			t.Fatalf("flow %d went to %v after rs1 was removed", i, m)
		}
	}
	// A service whose only real server drains still serves its flows.
	s4 := build(t, webConfig(BackendConfig{Addr: rs2, Weight: 0}), s3)
	p, _ := run(t, w, s4, tcpFrame(t, client, vip, 10000, 80))
	if p.Verdict != Forward {
		t.Fatalf("established flow on a draining-only service: %v", p.Verdict)
	}
	p, _ = run(t, w, s4, tcpFrame(t, client, vip, 60000, 80))
	if p.Verdict != DropNoBackend {
		t.Fatalf("new flow on a draining-only service: %v", p.Verdict)
	}
}

func TestConntrackTimeoutAndEviction(t *testing.T) {
	clock := new(Clock)
	clock.Set(100)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 4, Timeouts: CTTimeouts{Established: 10, Syn: 10}, Clock: clock})
	s1 := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 1}, BackendConfig{Addr: rs2, Weight: 1}), nil)
	flowsTo(t, w, s1, 4) // four flows in a one-bucket table
	w.Publish()
	if c := w.Shared.Load(); c.CTMisses != 4 || c.CTFull != 0 {
		t.Fatalf("misses %d full %d", c.CTMisses, c.CTFull)
	}
	flowsTo(t, w, s1, 4)
	w.Publish()
	if c := w.Shared.Load(); c.CTHits != 4 {
		t.Fatalf("hits %d, want 4", c.CTHits)
	}
	// A fifth flow evicts the least recently seen live one.
	run(t, w, s1, tcpFrame(t, client, vip, 20000, 80))
	w.Publish()
	if c := w.Shared.Load(); c.CTFull != 1 {
		t.Fatalf("full %d, want 1", c.CTFull)
	}
	// After the idle timeout flows are new again, and expired entries are
	// reused without counting as full.
	clock.Set(111)
	flowsTo(t, w, s1, 4)
	w.Publish()
	if c := w.Shared.Load(); c.CTMisses != 4+1+4 || c.CTFull != 1 {
		t.Fatalf("after timeout: misses %d full %d", c.CTMisses, c.CTFull)
	}
}

func TestExceptionPathVerdicts(t *testing.T) {
	cfg := testConfig()
	cfg.Kernel = true
	withKernel, _, err := Build(cfg, testNeighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	without := testSnapshot(t)
	vrrp := serialize(t, eth(clientMAC, header.MAC{1, 0, 0x5e, 0, 0, 0x12}, layers.EthernetTypeIPv4),
		ip4(netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("224.0.0.18"), 112), gopacketPayload(20))
	cases := []struct {
		name          string
		frame         []byte
		kernel, plain Verdict
	}{
		{"tcp to own address", tcpFrame(t, client, own.Addr(), 40000, 22), ToKernel, DropOwnAddress},
		{"udp to own address", udpFrame(t, client, own.Addr(), 53, 40000), ToKernel, DropOwnAddress},
		{"icmp unreachable to own address", icmpFrame(t, client, own.Addr(), 3), ToKernel, DropOwnAddress},
		{"icmp echo to own address", icmpFrame(t, client, own.Addr(), 8), EchoReply, EchoReply},
		{"vrrp advertisement", vrrp, ToKernel, DropNotVIP},
		{"arp reply to own address", arpFrame(t, header.ARPReply, rs1MAC, rs1, own.Addr(), 0), ToKernel, ARPLearned},
		{"arp request for own address", arpFrame(t, header.ARPRequest, clientMAC, client, own.Addr(), 0), ARPReply, ARPReply},
		{"vip traffic", tcpFrame(t, client, vip, 40000, 80), Forward, Forward},
	}
	for _, c := range cases {
		w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
		if p, _ := run(t, w, withKernel, c.frame); p.Verdict != c.kernel {
			t.Errorf("%s with exception path: %v, want %v", c.name, p.Verdict, c.kernel)
		}
		if p, _ := run(t, w, without, c.frame); p.Verdict != c.plain {
			t.Errorf("%s without exception path: %v, want %v", c.name, p.Verdict, c.plain)
		}
	}
}

func gopacketPayload(n int) gopacket.Payload { return gopacket.Payload(make([]byte, n)) }

// TestSnapshotSwapUnderLoad: a worker processes bursts while another
// goroutine swaps snapshots (a real server added and removed) at full
// speed, as the data plane's main goroutine does. Every packet must be
// forwarded to a real server of one of the snapshots, never dropped or
// sent to garbage. Run with -race, it also checks the hand-over.
func TestSnapshotSwapUnderLoad(t *testing.T) {
	two := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 1}, BackendConfig{Addr: rs2, Weight: 1}), nil)
	three := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 1}, BackendConfig{Addr: rs2, Weight: 1}, BackendConfig{Addr: rs3, Weight: 1}), two)
	var cur atomic.Pointer[Snapshot]
	cur.Store(two)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
	frames := make([][]byte, 32)
	for i := range frames {
		frames[i] = tcpFrame(t, client, vip, uint16(5000+i), 80)
	}
	pk := make([]Packet, 32)
	stop := make(chan struct{})
	swaps := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				swaps <- n
				return
			default:
			}
			if n%2 == 0 {
				cur.Store(three)
			} else {
				cur.Store(two)
			}
			n++
		}
	}()
	valid := map[header.MAC]bool{rs1MAC: true, rs2MAC: true, rs3MAC: true}
	for round := 0; round < 20000; round++ {
		for i, f := range frames {
			buf := make([]byte, len(f))
			copy(buf, f)
			pk[i] = Packet{Buf: buf, Len: len(buf)}
		}
		w.Process(cur.Load(), 0, pk)
		for i := range pk {
			if pk[i].Verdict != Forward || !valid[header.Ethernet(pk[i].Frame()).Dst()] {
				close(stop)
				<-swaps
				t.Fatalf("round %d packet %d: verdict %v to %v", round, i, pk[i].Verdict, header.Ethernet(pk[i].Frame()).Dst())
			}
		}
	}
	close(stop)
	if n := <-swaps; n < 100 {
		t.Fatalf("only %d swaps happened during the load", n)
	}
}
