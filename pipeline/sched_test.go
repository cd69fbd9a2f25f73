package pipeline

import (
	"dsrlb/conf"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/pipeline/header"
)

// segment builds a TCP segment from src with the flags named in flags
// ("S", "SA", "A", "F", "FA", "R").
func segment(t testing.TB, src, dst netip.Addr, sport, dport uint16, flags string) []byte {
	t.Helper()
	ip := ip4(src, dst, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Window: 64240,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"),
		FIN: strings.Contains(flags, "F"), RST: strings.Contains(flags, "R")}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload("x"))
}

var rs4 = netip.MustParseAddr("192.0.2.24")

var macOf = map[header.MAC]netip.Addr{rs1MAC: rs1, rs2MAC: rs2, rs3MAC: rs3, {0x02, 0, 0, 0, 0, 0x24}: rs4}

func resolved4(ip netip.Addr) (Neighbor, bool) {
	for m, a := range macOf {
		if a == ip {
			return Neighbor{MAC: m}, true
		}
	}
	return Neighbor{}, false
}

// schedConfig is one TCP service on port 80 with scheduler sch and real
// servers rs1.. with the given weights.
func schedConfig(sch conf.Scheduler, weights ...uint32) *Config {
	c := webConfig()
	c.Services[0].Scheduler = sch
	for i, w := range weights {
		c.Services[0].Backends = append(c.Services[0].Backends, BackendConfig{Addr: []netip.Addr{rs1, rs2, rs3, rs4}[i], Weight: w})
	}
	return c
}

func buildSched(t testing.TB, cfg *Config, prev *Snapshot) *Snapshot {
	t.Helper()
	s, _, err := Build(cfg, resolved4, prev, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sendTo runs one segment through w and returns the real server it went
// to (invalid if not forwarded).
func sendTo(t testing.TB, w *Worker, s *Snapshot, src netip.Addr, sport uint16, flags string) netip.Addr {
	t.Helper()
	p, f := run(t, w, s, segment(t, src, vip, sport, 80, flags))
	if p.Verdict != Forward {
		return netip.Addr{}
	}
	return macOf[header.Ethernet(f).Dst()]
}

// sequence opens n new connections and returns the letter (a, b, c, d for
// rs1..rs4) of each one's real server.
func sequence(t testing.TB, w *Worker, s *Snapshot, first uint16, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		a := sendTo(t, w, s, client, first+uint16(i), "S")
		switch a {
		case rs1, rs2, rs3, rs4:
			b.WriteByte("abcd"[a.As4()[3]-21])
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

func TestRoundRobinSequences(t *testing.T) {
	cases := []struct {
		sch     conf.Scheduler
		weights []uint32
		want    string
	}{
		{conf.SchedRR, []uint32{1, 2, 5}, "abcabcabc"},
		{conf.SchedRR, []uint32{1, 0, 5}, "acacac"}, // weight 0: no new flows
		// Smooth weighted round robin interleaves: weights 1, 2, 5 over a
		// cycle of 8 give exactly 1, 2, 5, never five c in a row.
		{conf.SchedWRR, []uint32{1, 2, 5}, "cbcaccbc" + "cbcaccbc"},
		{conf.SchedWRR, []uint32{5, 1, 1}, "aabacaa"},
		{conf.SchedWRR, []uint32{1, 1}, "abababab"},
		{conf.SchedWRR, []uint32{3, 1}, "aaba" + "aaba"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v%v", c.sch, c.weights), func(t *testing.T) {
			w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
			s := buildSched(t, schedConfig(c.sch, c.weights...), nil)
			if got := sequence(t, w, s, 1000, len(c.want)); got != c.want {
				t.Fatalf("sequence %s, want %s", got, c.want)
			}
		})
	}
}

func TestWRRSharesExactOverCycles(t *testing.T) {
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 14})
	s := buildSched(t, schedConfig(conf.SchedWRR, 1, 2, 5), nil)
	seq := sequence(t, w, s, 1000, 8*100)
	for i, want := range []int{100, 200, 500} {
		if n := strings.Count(seq, string("abc"[i])); n != want {
			t.Errorf("server %c got %d of 800, want %d", "abc"[i], n, want)
		}
	}
	// Interleaved: no server gets more than its share of a cycle in a row.
	if strings.Contains(seq, "cccc") {
		t.Errorf("wrr bursts: %s", seq[:40])
	}
}

// TestWRRTwoWorkersAggregate: each worker runs its own sequence, so the
// weights hold for each and for their sum.
func TestWRRTwoWorkersAggregate(t *testing.T) {
	s := buildSched(t, schedConfig(conf.SchedWRR, 3, 1), nil)
	w0 := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
	w1 := NewWorkerWith(1, WorkerOptions{Conntrack: 1 << 12})
	counts := map[byte]int{}
	for i := range 200 { // odd ports to one worker, even to the other, as RSS would spread them
		w := w0
		if i%3 == 0 {
			w = w1
		}
		seq := sequence(t, w, s, uint16(2000+i), 1)
		counts[seq[0]]++
	}
	// w1 got 67 flows, w0 133: each within one pick of 3:1.
	if counts['a'] < 148 || counts['a'] > 152 || counts['a']+counts['b'] != 200 {
		t.Fatalf("shares %v, want 150/50 within 2", counts)
	}
}

func TestLeastConnections(t *testing.T) {
	for _, sch := range []conf.Scheduler{conf.SchedLC, conf.SchedWLC, conf.SchedTwoS} {
		t.Run(sch.String(), func(t *testing.T) {
			w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
			// Ten established connections on rs1 (a SYN then the ACK)
			// while rs2 drains, then rs2 takes new flows again.
			only1 := buildSched(t, schedConfig(sch, 1, 0), nil)
			for i := range 10 {
				sendTo(t, w, only1, client, uint16(3000+i), "S")
				sendTo(t, w, only1, client, uint16(3000+i), "A")
			}
			s := buildSched(t, schedConfig(sch, 1, 1), only1)
			if got := w.ct.conns.overhead(s.services[0].hops[0].ref); got != 10*256 {
				t.Fatalf("rs1 load %d, want 10 active (2560)", got)
			}
			// New connections go to rs2 until its load reaches rs1's.
			for i := range 20 {
				if a := sendTo(t, w, s, client, uint16(5000+i), "S"); a != rs2 {
					t.Fatalf("new connection %d to %v with rs1 at 10 active and rs2 at %d inactive", i, a, i)
				}
			}
		})
	}
}

func TestWeightedLeastConnections(t *testing.T) {
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
	s := buildSched(t, schedConfig(conf.SchedWLC, 3, 1), nil)
	// Established connections only: wlc keeps active/weight level, 3:1.
	seq := ""
	for i := range 40 {
		a := sendTo(t, w, s, client, uint16(6000+i), "S")
		sendTo(t, w, s, client, uint16(6000+i), "A")
		seq += map[netip.Addr]string{rs1: "a", rs2: "b"}[a]
	}
	if na := strings.Count(seq, "a"); na != 30 {
		t.Fatalf("wlc 3:1 gave %d of 40 to the weight-3 server: %s", na, seq)
	}
	// lc ignores weights.
	w = NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
	s = buildSched(t, schedConfig(conf.SchedLC, 3, 1), nil)
	seq = ""
	for i := range 40 {
		a := sendTo(t, w, s, client, uint16(6000+i), "S")
		sendTo(t, w, s, client, uint16(6000+i), "A")
		seq += map[netip.Addr]string{rs1: "a", rs2: "b"}[a]
	}
	if na := strings.Count(seq, "a"); na != 20 {
		t.Fatalf("lc gave %d of 40 to one of two servers: %s", na, seq)
	}
}

func TestFailoverScheduler(t *testing.T) {
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
	s := buildSched(t, schedConfig(conf.SchedFO, 2, 5, 5, 1), nil)
	if got := sequence(t, w, s, 1000, 6); got != "bbbbbb" {
		t.Fatalf("fo: %s, want the first of the heaviest every time", got)
	}
	// The heaviest drained: the next takes over, established flows stay.
	s2 := buildSched(t, schedConfig(conf.SchedFO, 2, 0, 5, 1), s)
	if got := sequence(t, w, s2, 2000, 3); got != "ccc" {
		t.Fatalf("fo after drain: %s", got)
	}
	if got := sequence(t, w, s2, 1000, 1); got != "b" {
		t.Fatalf("an established flow moved off its drained server: %s", got)
	}
}

// TestMidFlowGoesToMaglev: a packet that does not open a connection and
// has no entry (after a failover or an expiry) is scheduled by Maglev
// whatever the service's scheduler, so the two balancers of a pair agree.
func TestMidFlowGoesToMaglev(t *testing.T) {
	rr := buildSched(t, schedConfig(conf.SchedRR, 1, 1, 1), nil)
	mg := buildSched(t, schedConfig(conf.SchedMaglev, 1, 1, 1), nil)
	for i := range 50 {
		port := uint16(7000 + i)
		a := sendTo(t, NewWorkerWith(0, WorkerOptions{Conntrack: 64}), rr, client, port, "A")
		b := sendTo(t, NewWorkerWith(0, WorkerOptions{Conntrack: 64}), mg, client, port, "A")
		if a != b || !a.IsValid() {
			t.Fatalf("flow %d mid-connection: rr service sent it to %v, Maglev to %v", i, a, b)
		}
	}
}

func TestConnectionStates(t *testing.T) {
	clock := new(Clock)
	clock.Set(1000)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 10, Clock: clock,
		Timeouts: CTTimeouts{Established: 100, Syn: 5, Closing: 10, UDP: 50}})
	s := buildSched(t, schedConfig(conf.SchedMaglev, 1), nil)
	r := s.services[0].hops[0].ref
	counts := func() (uint32, uint32) { c := w.ct.conns.c[r.idx]; return c.active, c.inactive }
	check := func(step string, act, inact uint32, byState [numCTStates]uint64) {
		t.Helper()
		if a, i := counts(); a != act || i != inact {
			t.Fatalf("%s: active %d inactive %d, want %d %d", step, a, i, act, inact)
		}
		if w.ct.byState != byState {
			t.Fatalf("%s: table by state %v, want %v", step, w.ct.byState, byState)
		}
	}
	sendTo(t, w, s, client, 1, "S")
	check("SYN", 0, 1, [4]uint64{ctSyn: 1})
	sendTo(t, w, s, client, 1, "S") // retransmitted SYN
	check("SYN again", 0, 1, [4]uint64{ctSyn: 1})
	sendTo(t, w, s, client, 1, "A")
	check("ACK", 1, 0, [4]uint64{ctEstablished: 1})
	sendTo(t, w, s, client, 1, "A")
	check("data", 1, 0, [4]uint64{ctEstablished: 1})
	sendTo(t, w, s, client, 1, "FA")
	check("FIN", 0, 1, [4]uint64{ctClosing: 1})
	sendTo(t, w, s, client, 1, "A") // the last ACK
	check("last ACK", 0, 1, [4]uint64{ctClosing: 1})
	sendTo(t, w, s, client, 1, "S") // the 5-tuple reused
	check("reopened", 0, 1, [4]uint64{ctSyn: 1})
	sendTo(t, w, s, client, 1, "R")
	check("RST", 0, 1, [4]uint64{ctClosing: 1})
	// A flow first seen mid-connection is established; a RST without an
	// entry is forwarded and not tracked.
	sendTo(t, w, s, client, 2, "A")
	check("picked up", 1, 1, [4]uint64{ctEstablished: 1, ctClosing: 1})
	if a := sendTo(t, w, s, client, 3, "R"); a != rs1 {
		t.Fatalf("untracked RST went to %v", a)
	}
	check("RST alone", 1, 1, [4]uint64{ctEstablished: 1, ctClosing: 1})

	// Per-state timeouts: the closing flow goes after 10 s, the
	// established one after 100 s; the sweep takes them off the counts.
	sweepAll := func() {
		for range len(w.ct.entries)/ctWays/sweepPerIdle + 1 {
			w.Idle()
		}
	}
	clock.Set(1011)
	sweepAll()
	check("closing expired", 1, 0, [4]uint64{ctEstablished: 1})
	sendTo(t, w, s, client, 4, "S")
	clock.Set(1017)
	sweepAll()
	check("half-open expired", 1, 0, [4]uint64{ctEstablished: 1})
	clock.Set(1102)
	sweepAll()
	check("established expired", 0, 0, [4]uint64{})
	if w.ct.live != 0 {
		t.Fatalf("live %d", w.ct.live)
	}
}

func TestUDPFlowsAreActive(t *testing.T) {
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 10})
	s := testSnapshot(t) // dns: rs2 only
	p, _ := run(t, w, s, udpFrame(t, client, vipUDP, 5353, 53))
	if p.Verdict != Forward {
		t.Fatal(p.Verdict)
	}
	r := s.services[2].hops[1].ref
	if c := w.ct.conns.c[r.idx]; c.active != 1 || w.ct.byState[ctUDP] != 1 {
		t.Fatalf("udp flow: active %d, by state %v", c.active, w.ct.byState)
	}
}

// TestSYNFloodKeepsEstablished: a flood of SYNs from new sources through a
// small table never evicts a flow past its handshake, even when a reload
// adds a real server (Maglev would move a quarter of the flows whose
// entries were lost).
func TestSYNFloodKeepsEstablished(t *testing.T) {
	clock := new(Clock)
	clock.Set(100)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 256, Clock: clock})
	s := buildSched(t, schedConfig(conf.SchedMaglev, 1, 1, 1), nil)
	type flow struct {
		port uint16
		to   netip.Addr
	}
	var est []flow
	for i := range 32 {
		port := uint16(100 + i)
		to := sendTo(t, w, s, client, port, "S")
		sendTo(t, w, s, client, port, "A")
		est = append(est, flow{port, to})
	}
	if n := w.ct.byState[ctEstablished]; n != 32 {
		t.Fatalf("%d of 32 flows tracked before the flood", n)
	}
	s2 := buildSched(t, schedConfig(conf.SchedMaglev, 1, 1, 1, 1), s)
	for i := range 20000 {
		clock.Set(uint32(101 + i/2000)) // the established flows are the least recently seen
		src := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		if a := sendTo(t, w, s2, src, uint16(i), "S"); !a.IsValid() {
			t.Fatalf("flood SYN %d not forwarded", i)
		}
	}
	for _, f := range est {
		if a := sendTo(t, w, s2, client, f.port, "A"); a != f.to {
			t.Fatalf("established flow %d moved from %v to %v under the flood", f.port, f.to, a)
		}
	}
	w.Publish()
	if c := w.Shared.Load(); c.CTFull < 20000-256 || c.CTFullEstablished != 0 {
		t.Fatalf("evicted %d, %d of them established: the flood should have cycled through the half-open entries only", c.CTFull, c.CTFullEstablished)
	}
	if n := w.ct.byState[ctEstablished]; n != 32 {
		t.Fatalf("established entries %d of 32 after the flood", n)
	}
}

// TestConntrackEvictionClasses: a full bucket gives up its least recently
// seen half-open or closing entry first; established flows are evicted
// only by flows past their handshake, never by a SYN.
func TestConntrackEvictionClasses(t *testing.T) {
	ct := newConntrack(4, CTTimeouts{}) // one bucket
	r := ref{1, 1}
	ct.conns.c[1].gen = 1
	at := func(key uint64) *ctEntry {
		for i := range ct.entries {
			if ct.entries[i].key == key {
				return &ct.entries[i]
			}
		}
		return nil
	}
	for k := uint64(1); k <= 4; k++ {
		if got := ct.insert(k<<20, r, ctEstablished, uint16(10+k)); got != ctInserted {
			t.Fatalf("insert %d: %d", k, got)
		}
	}
	if got := ct.insert(5<<20, r, ctSyn, 20); got != ctRefused || at(5<<20) != nil {
		t.Fatalf("a SYN into a bucket of established flows: %d", got)
	}
	if got := ct.insert(6<<20, r, ctEstablished, 20); got != ctEvictedEstablished || at(1<<20) != nil || at(6<<20) == nil {
		t.Fatalf("an established flow into a full bucket: %d, the oldest (1) should go", got)
	}
	// 2 closes, 3 goes half-open again: they go before the established.
	ct.setState(at(2<<20), ctClosing)
	ct.setState(at(3<<20), ctSyn)
	if got := ct.insert(7<<20, r, ctSyn, 21); got != ctEvicted || at(2<<20) != nil {
		t.Fatalf("SYN 7: %d, the closing entry 2 (oldest non-established) should go", got)
	}
	if got := ct.insert(8<<20, r, ctSyn, 22); got != ctEvicted || at(3<<20) != nil {
		t.Fatalf("SYN 8: %d, the half-open entry 3 should go", got)
	}
	if got := ct.insert(9<<20, r, ctSyn, 23); got != ctEvicted || at(7<<20) != nil || at(4<<20) == nil || at(6<<20) == nil {
		t.Fatalf("SYN 9: %d, the half-open 7 should go, not the established 4 and 6", got)
	}
	if c := ct.conns.c[1]; c.active != 2 || c.inactive != 2 || ct.byState != [numCTStates]uint64{ctSyn: 2, ctEstablished: 2} {
		t.Fatalf("counts %+v, by state %v", c, ct.byState)
	}
}

func TestBackendRefsAcrossBuilds(t *testing.T) {
	s1 := buildSched(t, schedConfig(conf.SchedMaglev, 1, 1, 1), nil)
	r1 := s1.services[0].hops[0].ref
	// The same pairs keep their references, whatever the order.
	c := schedConfig(conf.SchedMaglev, 1, 1, 1)
	b := c.Services[0].Backends
	b[0], b[2] = b[2], b[0]
	s2 := buildSched(t, c, s1)
	if got := s2.services[0].hops[2].ref; got != r1 {
		t.Fatalf("rs1's reference %v became %v", r1, got)
	}
	// rs1 removed, then another server added: the freed index comes back
	// with a new generation, so rs1's entries are not taken for rs4's.
	c3 := schedConfig(conf.SchedMaglev, 0, 1, 1)
	c3.Services[0].Backends = c3.Services[0].Backends[1:]
	s3 := buildSched(t, c3, s2)
	c4 := schedConfig(conf.SchedMaglev, 0, 1, 1, 1)
	c4.Services[0].Backends = c4.Services[0].Backends[1:]
	s4 := buildSched(t, c4, s3)
	r4 := s4.services[0].hops[2].ref
	if r4.idx != r1.idx || r4.gen == r1.gen {
		t.Fatalf("rs4 got %v after rs1's %v was freed", r4, r1)
	}
	if s4.hopOf(r1, &s4.services[0], 0) != nil {
		t.Fatal("an entry of the removed rs1 resolves in the new snapshot")
	}
	// A flow of rs1 is scheduled again, not sent to rs4 by the reused
	// index.
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
	var port uint16
	for port = 1; sendTo(t, w, s1, client, port, "S") != rs1; port++ {
	}
	sendTo(t, w, s1, client, port, "A")
	if a := sendTo(t, w, s4, client, port, "A"); a == rs1 || !a.IsValid() {
		t.Fatalf("flow of the removed rs1 went to %v", a)
	}
	if c := w.ct.conns.c[r4.idx]; c.gen != r4.gen || c.active > 1 {
		t.Fatalf("rs4's counts inherited rs1's: %+v", c)
	}
}

func TestRefsLimit(t *testing.T) {
	var a *refAlloc
	keys := make([]refKey, MaxRefs+1)
	for i := range keys {
		keys[i] = refKey{fmt.Sprint("s", i/1000), netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
	}
	if _, err := a.next(keys); err == nil {
		t.Fatal("more than MaxRefs pairs accepted")
	}
	if _, err := a.next(keys[:MaxRefs]); err != nil {
		t.Fatal(err)
	}
}

func TestSchedulersAllocateNothing(t *testing.T) {
	for _, sch := range conf.Schedulers() {
		cfg := schedConfig(sch, 3, 1, 2)
		cfg.Services[0].PersistTimeout = 60
		cfg.Services[0].PersistPrefix = 24
		s := buildSched(t, cfg, nil)
		w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 10})
		frames := make([][]byte, 64)
		for i := range frames {
			src := netip.AddrFrom4([4]byte{198, 51, byte(i), 7})
			frames[i] = segment(t, src, vip, uint16(1000+i), 80, "S")
		}
		pk := make([]Packet, len(frames))
		bufs := make([][]byte, len(frames))
		for i := range bufs {
			bufs[i] = make([]byte, 128+len(frames[i]))
		}
		round := uint16(0)
		fill := func() { // new source ports each round: every packet a new flow
			round++
			for i, f := range frames {
				copy(bufs[i][128:], f)
				bufs[i][128+34], bufs[i][128+35] = byte(round>>8), byte(round)
				pk[i] = Packet{Buf: bufs[i], Off: 128, Len: len(f)}
			}
		}
		fill()
		w.Process(s, 0, pk) // adopt the snapshot
		if a := testing.AllocsPerRun(200, func() { fill(); w.Process(s, 0, pk) }); a != 0 {
			t.Errorf("%v: %.1f allocations per burst", sch, a)
		}
	}
}

// TestConnectionGaugesPublished: each real server's active and inactive
// connections reach its counter slot; a real server that moves to another
// slot takes its counts along, and the overflow slot gets none.
func TestConnectionGaugesPublished(t *testing.T) {
	clock := new(Clock)
	clock.Set(100)
	w := statsWorker(WorkerOptions{Clock: clock})
	cfg := slotted()
	s := buildWith(t, cfg, testNeighbors, nil)
	for i := range 30 {
		port := uint16(100 + i)
		sendTo(t, w, s, client, port, "S")
		if i%3 != 0 {
			sendTo(t, w, s, client, port, "A")
		}
	}
	w.Publish()
	st := w.Stats()
	var act, inact uint64
	for _, b := range s.services[0].hops {
		g := st.Backends[b.stat]
		act += g.ActiveConns
		inact += g.InactiveConns
		c := w.ct.conns.c[b.ref.idx]
		if g.ActiveConns != uint64(c.active) || g.InactiveConns != uint64(c.inactive) {
			t.Fatalf("slot %d: published %d/%d, counted %d/%d", b.stat, g.ActiveConns, g.InactiveConns, c.active, c.inactive)
		}
	}
	if act != 20 || inact != 10 {
		t.Fatalf("published %d active %d inactive, want 20 and 10", act, inact)
	}
	if g := st.Gauges; g.ConntrackSyn != 10 || g.ConntrackEstablished != 20 || g.ConntrackEntries != 30 {
		t.Fatalf("gauges %+v", *g)
	}
	// The real servers move to other slots (a new epoch): the counts
	// follow them.
	cfg2 := slotted()
	for j := range cfg2.Services[0].Backends {
		cfg2.Services[0].Backends[j].Stats = StatSlot{Slot: uint32(10 + j), Epoch: 2}
	}
	s2 := buildWith(t, cfg2, testNeighbors, s)
	sendTo(t, w, s2, client, 100, "A")
	w.Publish()
	act = 0
	for _, b := range s2.services[0].hops {
		act += st.Backends[b.stat].ActiveConns
	}
	if act != 21 { // the half-open flow on port 100 completed its handshake
		t.Fatalf("after the move: %d active, want 21", act)
	}
	if st.Backends[0].ActiveConns != 0 {
		t.Fatal("the overflow slot has connection gauges")
	}
	// Expiry takes them off.
	clock.Set(100 + DefaultConntrackTimeout + 1)
	for range 8 {
		w.Idle()
	}
	for _, b := range s2.services[0].hops {
		if g := st.Backends[b.stat]; g.ActiveConns+g.InactiveConns != 0 {
			t.Fatalf("slot %d after expiry: %+v", b.stat, g)
		}
	}
}
