package pipeline

import (
	"net/netip"
	"reflect"
	"testing"

	"dsrlb/pipeline/header"

	"dsrlb/perf/stats"
)

// TestStatsLayout keeps the worker's counter slots, which the data plane
// places in shared memory, and perf/stats' layout in step.
func TestStatsLayout(t *testing.T) {
	for _, c := range []struct {
		v    any
		size int
	}{{ServiceStats{}, stats.ServiceSlotBytes}, {BackendStats{}, stats.BackendSlotBytes}, {WorkerGauges{}, stats.WorkerGaugeBytes}} {
		rt := reflect.TypeOf(c.v)
		if int(rt.Size()) != c.size {
			t.Errorf("%s is %d bytes, perf/stats' slot %d", rt, rt.Size(), c.size)
		}
		for i := range rt.NumField() {
			k := rt.Field(i).Type
			if k.Kind() == reflect.Array {
				k = k.Elem()
			}
			if k.Kind() != reflect.Uint64 {
				t.Errorf("%s.%s is %s, not uint64", rt, rt.Field(i).Name, rt.Field(i).Type)
			}
		}
	}
	if len(ServiceDrops) != NumServiceDrops || NumServiceDrops != stats.NumDrops {
		t.Fatalf("%d service drops, NumServiceDrops %d, perf/stats %d", len(ServiceDrops), NumServiceDrops, stats.NumDrops)
	}
	for i, v := range ServiceDrops {
		if !v.IsDrop() || v.String() != stats.DropNames[i] {
			t.Errorf("service drop %d is %v, perf/stats calls it %s", i, v, stats.DropNames[i])
		}
	}
}

// slotted is testConfig with counter slots: web 1 (rs1 1, rs2 2, rs3 3),
// web-any 2 (rs1 4, rs2 5), dns 3 (rs1 6, rs2 7), empty 4.
func slotted() *Config {
	cfg := testConfig()
	next := uint32(1)
	for i := range cfg.Services {
		cfg.Services[i].Stats = StatSlot{Slot: uint32(i + 1), Epoch: 1}
		for j := range cfg.Services[i].Backends {
			cfg.Services[i].Backends[j].Stats = StatSlot{Slot: next, Epoch: 1}
			next++
		}
	}
	return cfg
}

func buildWith(t *testing.T, cfg *Config, neigh NeighborLookup, prev *Snapshot) *Snapshot {
	t.Helper()
	s, _, err := Build(cfg, neigh, prev, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func statsWorker(o WorkerOptions) *Worker {
	o.Stats = NewStats(8, 16)
	if o.Conntrack == 0 {
		o.Conntrack = 1 << 12
	}
	return NewWorkerWith(0, o)
}

func TestStatsForwardAndNewFlows(t *testing.T) {
	s := buildWith(t, slotted(), testNeighbors, nil)
	w := statsWorker(WorkerOptions{})
	const flows = 200
	var bytes uint64
	for round := 0; round < 2; round++ {
		for i := 0; i < flows; i++ {
			f := tcpFrame(t, client, vip, uint16(20000+i), 80)
			if p, _ := run(t, w, s, f); p.Verdict != Forward {
				t.Fatalf("verdict %v", p.Verdict)
			}
			bytes += uint64(len(f))
		}
	}
	st := w.Stats()
	w.Publish()
	web := st.Services[1]
	if web.Epoch != 1 || web.Packets != 2*flows || web.Bytes != bytes || web.NewFlows != flows || web.ICMPErrors != 0 || web.Drops != [NumServiceDrops]uint64{} {
		t.Fatalf("web %+v", web)
	}
	rs1, rs2, rs3 := st.Backends[1], st.Backends[2], st.Backends[3]
	if rs1.Packets+rs2.Packets != 2*flows || rs1.Bytes+rs2.Bytes != bytes || rs1.NewFlows+rs2.NewFlows != flows ||
		rs1.Packets < flows/2 || rs2.Packets < flows/2 || rs3 != (BackendStats{}) {
		t.Fatalf("real servers %+v %+v %+v", rs1, rs2, rs3)
	}
	if rs1.Epoch != 1 || rs2.Epoch != 1 {
		t.Fatalf("real-server epochs %d %d", rs1.Epoch, rs2.Epoch)
	}
	// Another service, another slot; nothing in the overflow slots.
	if st.Services[2] != (ServiceStats{Epoch: 1}) || st.Services[0] != (ServiceStats{}) || st.Backends[0] != (BackendStats{}) {
		t.Fatalf("other slots counted: %+v %+v %+v", st.Services[2], st.Services[0], st.Backends[0])
	}
	// Every packet of a service has one outcome in its slot: the global
	// forward counter and the service's agree.
	if g := w.Shared.Load(); g.Verdicts[Forward] != web.Packets {
		t.Fatalf("forward %d, web %d", g.Verdicts[Forward], web.Packets)
	}
}

func TestStatsDropsPerService(t *testing.T) {
	// rs1 answers ARP with no MAC yet (zero): its flows are no_mac.
	noMAC := func(ip netip.Addr) (Neighbor, bool) {
		if ip == rs1 {
			return Neighbor{}, true
		}
		return testNeighbors(ip)
	}
	cfg := slotted()
	cfg.Services[0].Backends = cfg.Services[0].Backends[:1] // web: rs1 only
	s := buildWith(t, cfg, noMAC, nil)
	w := statsWorker(WorkerOptions{})
	if p, _ := run(t, w, s, tcpFrame(t, client, vip, 1, 80)); p.Verdict != DropNoMAC {
		t.Fatalf("verdict %v, want no_mac", p.Verdict)
	}
	if p, _ := run(t, w, s, udpFrame(t, client, vipUDP, 1, 54)); p.Verdict != DropNoBackend {
		t.Fatalf("verdict %v, want no_backend", p.Verdict)
	}
	// Drops before the service is known count in no service.
	run(t, w, s, udpFrame(t, client, vipUDP, 1, 99))
	w.Publish()
	st := w.Stats()
	if d := st.Services[1].Drops; d[0] != 0 || d[1] != 1 || st.Services[1].NewFlows != 1 || st.Services[1].Packets != 0 {
		t.Fatalf("web %+v", st.Services[1])
	}
	if d := st.Services[4].Drops; d[0] != 1 || st.Services[4].NewFlows != 0 {
		t.Fatalf("empty %+v", st.Services[4])
	}
	var sum uint64
	for _, ss := range st.Services {
		sum += ss.Packets + ss.ICMPErrors
		for _, d := range ss.Drops {
			sum += d
		}
	}
	if sum != 2 {
		t.Fatalf("%d outcomes in service slots for 2 packets of services", sum)
	}
}

func TestStatsICMPErrorsAndTunnelDrops(t *testing.T) {
	cfg := l3Config()
	for i := range cfg.Services {
		cfg.Services[i].Stats = StatSlot{Slot: uint32(i + 1), Epoch: 3}
		cfg.Services[i].Backends[0].Stats = StatSlot{Slot: uint32(i + 1), Epoch: 5}
	}
	s := buildWith(t, cfg, l3Neighbors, nil)
	clock := new(Clock)
	w := statsWorker(WorkerOptions{Clock: clock})
	ipip := uint32(2) // slot of service "ipip"
	for i := 0; i < icmpRate+3; i++ {
		run(t, w, s, bigTCP(t, vipIPIP, 1500, true))
	}
	run(t, w, s, bigTCP(t, vipIPIP, 1500, false))
	// No headroom for the outer header.
	f := tcpFrame(t, client, vipIPIP, 7, 80)
	pk := []Packet{{Buf: append([]byte(nil), f...), Len: len(f)}}
	w.Process(s, 0, pk)
	if pk[0].Verdict != DropNoHeadroom {
		t.Fatalf("verdict %v, want no_headroom", pk[0].Verdict)
	}
	w.Publish()
	ss := w.Stats().Services[ipip]
	want := [NumServiceDrops]uint64{}
	want[serviceDrop[DropICMPRateLimit]] = 3
	want[serviceDrop[DropTooBig]] = 1
	want[serviceDrop[DropNoHeadroom]] = 1
	if ss.Epoch != 3 || ss.ICMPErrors != icmpRate || ss.Drops != want || ss.Packets != 0 || ss.NewFlows != 2 {
		t.Fatalf("ipip %+v, want %d ICMP errors, drops %v", ss, icmpRate, want)
	}
	if bs := w.Stats().Backends[ipip]; bs.Epoch != 5 || bs.Packets != 0 || bs.NewFlows != 2 {
		t.Fatalf("ipip real server %+v", bs)
	}
	// IPv6: Packet Too Big counts too.
	s6 := v6Snapshot(t, func(c *Config) {
		for i := range c.Services {
			c.Services[i].Stats = StatSlot{Slot: uint32(i + 1), Epoch: 1}
		}
	})
	w6 := statsWorker(WorkerOptions{})
	if p, _ := run(t, w6, s6, tcp6Frame(t, client6, vip6IPIP, 1, 80, 1461-60)); p.Verdict != PacketTooBig {
		t.Fatalf("verdict %v", p.Verdict)
	}
	w6.Publish()
	n := 0
	for _, ss := range w6.Stats().Services {
		n += int(ss.ICMPErrors)
	}
	if n != 1 {
		t.Fatalf("%d ICMPv6 errors counted, want 1", n)
	}
}

func TestStatsRelabel(t *testing.T) {
	s := buildWith(t, slotted(), testNeighbors, nil)
	w := statsWorker(WorkerOptions{})
	f := tcpFrame(t, client, vip, 1, 80)
	p, _ := run(t, w, s, f)
	w.Publish()
	before := w.Stats().Services[1]
	// The next burst: transmit refused.
	pk := []Packet{{Buf: append(make([]byte, 128), f...), Off: 128, Len: len(f)}}
	w.Process(s, 0, pk)
	w.Relabel(&pk[0], DropTxFull)
	w.Publish()
	ss := w.Stats().Services[1]
	if ss.Packets != before.Packets || ss.Bytes != before.Bytes || ss.Drops[serviceDrop[DropTxFull]] != 1 {
		t.Fatalf("after tx_full: %+v (before %+v)", ss, before)
	}
	var bsum uint64
	for _, b := range w.Stats().Backends {
		bsum += b.Packets
	}
	if bsum != 1 || p.Verdict != Forward {
		t.Fatalf("real servers count %d packets, want the 1 sent", bsum)
	}
}

// TestStatsPublishedNeverGoBack: the I/O layer relabels after Process
// (here every packet: the transmit queue is full); what Process publishes
// every publishEvery bursts already has the previous bursts' relabels, so
// no published count shows a packet that is then taken back.
func TestStatsPublishedNeverGoBack(t *testing.T) {
	s := buildWith(t, slotted(), testNeighbors, nil)
	w := statsWorker(WorkerOptions{})
	f := tcpFrame(t, client, vip, 1, 80)
	pk := make([]Packet, 1)
	for i := range 3 * publishEvery {
		pk[0] = Packet{Buf: append(make([]byte, 128), f...), Off: 128, Len: len(f)}
		w.Process(s, 0, pk)
		w.Relabel(&pk[0], DropTxFull)
		if got, fwd := w.Stats().Services[1].Packets, w.Shared.Load().Verdicts[Forward]; got != 0 || fwd != 0 {
			t.Fatalf("burst %d: %d packets of web and %d forwarded published, all of them dropped since", i, got, fwd)
		}
		if i%5 == 0 {
			w.Idle() // the I/O loop polled nothing for a while
		}
	}
	if d := w.Stats().Services[1].Drops[serviceDrop[DropTxFull]]; d < 2*publishEvery {
		t.Fatalf("%d tx_full published after %d bursts", d, 3*publishEvery)
	}
}

func TestStatsSlotsAcrossSnapshots(t *testing.T) {
	cfg := slotted()
	s1 := buildWith(t, cfg, testNeighbors, nil)
	w := statsWorker(WorkerOptions{})
	for i := 0; i < 100; i++ {
		run(t, w, s1, tcpFrame(t, client, vip, uint16(1000+i), 80))
	}
	w.Publish()
	base := w.Stats().Services[1].Packets
	b1, b2 := w.Stats().Backends[1].Packets, w.Stats().Backends[2].Packets
	// A MAC refresh: a new snapshot with the same slots; counts go on.
	moved := func(ip netip.Addr) (Neighbor, bool) {
		n, ok := testNeighbors(ip)
		if ip == rs1 {
			n.MAC[5] = 0x99
		}
		return n, ok
	}
	s2 := buildWith(t, cfg, moved, s1)
	for i := 0; i < 100; i++ {
		run(t, w, s2, tcpFrame(t, client, vip, uint16(1000+i), 80))
	}
	w.Publish()
	if got := w.Stats().Services[1].Packets; got != base+100 {
		t.Fatalf("after a MAC refresh web has %d packets, want %d", got, base+100)
	}
	if w.Stats().Backends[1].Packets < b1 || w.Stats().Backends[2].Packets < b2 {
		t.Fatal("a real server's count went back across a rebuild")
	}
	// rs2 removed, rs1 stays with its slot; then rs2 comes back in slot
	// 2 at a new epoch: it counts from zero, rs1 goes on.
	removed := slotted()
	removed.Services[0].Backends = []BackendConfig{removed.Services[0].Backends[0]}
	s3 := buildWith(t, removed, testNeighbors, s2)
	run(t, w, s3, tcpFrame(t, client, vip, 5000, 80))
	back := slotted()
	back.Services[0].Backends[1].Stats.Epoch = 2
	s4 := buildWith(t, back, testNeighbors, s3)
	w.Publish()
	rs1Before := w.Stats().Backends[1].Packets
	var on2 uint64
	for i := 0; i < 100; i++ {
		p, out := run(t, w, s4, tcpFrame(t, client, vip, uint16(6000+i), 80))
		if p.Verdict == Forward && header.Ethernet(out).Dst() == rs2MAC {
			on2++
		}
	}
	w.Publish()
	if rs2 := w.Stats().Backends[2]; rs2.Epoch != 2 || rs2.Packets != on2 || rs2.NewFlows != on2 {
		t.Fatalf("re-added rs2 %+v, want epoch 2 and only its %d new packets", rs2, on2)
	}
	if got := w.Stats().Backends[1].Packets; got != rs1Before+100-on2 {
		t.Fatalf("rs1 has %d packets, want %d", got, rs1Before+100-on2)
	}
}

func TestStatsOverflowSlot(t *testing.T) {
	cfg := slotted()
	cfg.Services[0].Stats = StatSlot{} // no slot: overflow
	cfg.Services[2].Stats = StatSlot{Slot: 100, Epoch: 1}
	cfg.Services[2].Backends[1].Stats = StatSlot{Slot: 100, Epoch: 1} // beyond the worker's 16
	s := buildWith(t, cfg, testNeighbors, nil)
	w := statsWorker(WorkerOptions{})
	run(t, w, s, tcpFrame(t, client, vip, 1, 80))
	run(t, w, s, udpFrame(t, client, vipUDP, 1, 53))
	w.Publish()
	st := w.Stats()
	if st.Services[0].Packets != 2 || st.Services[0].Epoch != 0 {
		t.Fatalf("overflow service slot %+v", st.Services[0])
	}
	if st.Backends[0].Packets != 1 { // dns' rs2; web's real servers have slots
		t.Fatalf("overflow real-server slot %+v", st.Backends[0])
	}
	if _, _, err := Build(func() *Config {
		c := slotted()
		c.Services[1].Stats = c.Services[0].Stats
		return c
	}(), testNeighbors, nil, nil); err == nil {
		t.Fatal("two services with one counter slot accepted")
	}
	if _, _, err := Build(func() *Config {
		c := slotted()
		c.Services[1].Backends[0].Stats = c.Services[0].Backends[0].Stats
		return c
	}(), testNeighbors, nil, nil); err == nil {
		t.Fatal("two real servers with one counter slot accepted")
	}
}

func TestConntrackOccupancy(t *testing.T) {
	clock := new(Clock)
	clock.Set(100)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 16, Timeouts: CTTimeouts{Established: 10, Syn: 10}, Clock: clock})
	s := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 1}, BackendConfig{Addr: rs2, Weight: 1}), nil)
	g := w.Stats().Gauges
	gauge := func() uint64 { w.Publish(); return g.ConntrackEntries }
	// Flows in four buckets' worth: at most 16 live entries.
	for i := 0; i < 12; i++ {
		run(t, w, s, tcpFrame(t, client, vip, uint16(100+i), 80))
	}
	got := gauge()
	if full := w.Shared.Load().CTFull; got != 12-full || g.ConntrackCapacity != 16 {
		t.Fatalf("entries %d capacity %d after 12 flows (%d evicted)", got, g.ConntrackCapacity, w.Shared.Load().CTFull)
	}
	// Many more flows than entries: evictions keep the table full.
	for i := 0; i < 200; i++ {
		run(t, w, s, tcpFrame(t, client, vip, uint16(1000+i), 80))
	}
	if got, full := gauge(), w.Shared.Load().CTFull; got != 16 || full == 0 {
		t.Fatalf("entries %d, conntrack_full %d after 200 flows in 16 entries", got, full)
	}
	// Known flows refresh their entries: no change.
	if got := gauge(); got != 16 {
		t.Fatalf("entries %d", got)
	}
	// Past the timeout, the idle sweep frees everything.
	clock.Set(111)
	w.Idle()
	if got := gauge(); got != 0 || g.ConntrackExpired != 16 {
		t.Fatalf("entries %d expired %d after the timeout", got, g.ConntrackExpired)
	}
	// Expired entries reused before the sweep reaches them are counted
	// once; the bursts' own sweep gets the rest.
	for i := 0; i < 8; i++ {
		run(t, w, s, tcpFrame(t, client, vip, uint16(3000+i), 80))
	}
	live := gauge()
	clock.Set(130)
	run(t, w, s, tcpFrame(t, client, vip, 4000, 80))
	if got := gauge(); got > live+1 {
		t.Fatalf("entries %d, at most %d", got, live+1)
	}
	for i := 0; i < 4; i++ { // 4 buckets, 1 swept per burst
		run(t, w, s, tcpFrame(t, client, vip, 4000, 80))
	}
	if got := gauge(); got != 1 {
		t.Fatalf("entries %d after the bursts swept the table, want the 1 fresh flow", got)
	}
	// The gauge is what the table holds.
	n := uint64(0)
	for _, e := range w.ct.entries {
		if e.key != 0 {
			n++
		}
	}
	if n != w.ct.live {
		t.Fatalf("table holds %d entries, live says %d", n, w.ct.live)
	}
}

// TestConntrackLiveMatchesTable runs random flows with a moving clock and
// checks the count against the table after each burst.
func TestConntrackLiveMatchesTable(t *testing.T) {
	clock := new(Clock)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 256, Timeouts: CTTimeouts{Established: 3, Syn: 3}, Clock: clock})
	s := build(t, webConfig(BackendConfig{Addr: rs1, Weight: 1}), nil)
	frames := make([][]byte, 300)
	for i := range frames {
		frames[i] = tcpFrame(t, client, vip, uint16(7000+i*7%300), 80)
	}
	pk := make([]Packet, 8)
	for round := 0; round < 400; round++ {
		clock.Set(uint32(round / 20))
		for i := range pk {
			// A window of 48 flows that moves on by 16 every 25 rounds:
			// the flows left behind expire.
			f := frames[((round/25)*16+(round*len(pk)+i)%48)%len(frames)]
			pk[i] = Packet{Buf: append([]byte(nil), f...), Len: len(f)}
		}
		w.Process(s, 0, pk)
		if round%7 == 0 {
			w.Idle()
		}
		n := uint64(0)
		for _, e := range w.ct.entries {
			if e.key != 0 {
				n++
			}
		}
		if n != w.ct.live {
			t.Fatalf("round %d: table holds %d entries, live says %d", round, n, w.ct.live)
		}
	}
	if w.ct.expired == 0 {
		t.Fatal("nothing expired")
	}
}

func TestStatsAllocateNothing(t *testing.T) {
	s1 := buildWith(t, slotted(), testNeighbors, nil)
	s2 := s1.WithMasters(Masters{}) // a new snapshot to adopt each round
	w := statsWorker(WorkerOptions{})
	frames := [][]byte{
		tcpFrame(t, client, vip, 1, 80), udpFrame(t, client, vipUDP, 1, 53), udpFrame(t, client, vipUDP, 1, 54),
		tcpFrame(t, client, vip, 2, 8080),
	}
	pk := make([]Packet, 32)
	bufs := make([][]byte, 32)
	for i := range pk {
		f := frames[i%len(frames)]
		bufs[i] = make([]byte, 128+len(f))
		copy(bufs[i][128:], f)
		pk[i] = Packet{Buf: bufs[i], Off: 128, Len: len(f)}
	}
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		s := s1
		if n%2 == 1 {
			s = s2
		}
		n++
		w.Process(s, 0, pk)
		w.Relabel(&pk[0], DropTxFull)
		w.Idle()
	})
	if allocs != 0 {
		t.Fatalf("a burst with per-service counters allocates %.1f times", allocs)
	}
	if w.Stats().Services[1].Packets == 0 {
		t.Fatal("nothing counted")
	}
}

// TestStatsSlotGivenToAnotherService: a real server's slot goes to a real
// server of another service between two publications. What the old owner
// counted is folded into its service before the slot starts again.
func TestStatsSlotGivenToAnotherService(t *testing.T) {
	one := func(svc string, slot uint32, epoch uint64) *Config {
		cfg := webConfig(BackendConfig{Addr: rs1, Weight: 1, Stats: StatSlot{Slot: 1, Epoch: epoch}})
		cfg.Services[0].Name = svc
		cfg.Services[0].Stats = StatSlot{Slot: slot, Epoch: 1}
		return cfg
	}
	w := statsWorker(WorkerOptions{})
	s1 := build(t, one("web", 1, 1), nil)
	for i := 0; i < 10; i++ {
		run(t, w, s1, tcpFrame(t, client, vip, uint16(100+i), 80))
	}
	// No publication in between: the next snapshot gives real-server slot
	// 1 (epoch 2) to service "other" in service slot 2.
	s2 := build(t, one("other", 2, 2), s1)
	for i := 0; i < 3; i++ {
		run(t, w, s2, tcpFrame(t, client, vip, uint16(500+i), 80))
	}
	w.Publish()
	st := w.Stats()
	if web := st.Services[1]; web.Packets != 10 || web.NewFlows != 10 {
		t.Fatalf("web %+v, want its 10 packets and flows", web)
	}
	if other := st.Services[2]; other.Packets != 3 || other.NewFlows != 3 {
		t.Fatalf("other %+v, want 3 packets and flows", other)
	}
	if b := st.Backends[1]; b.Epoch != 2 || b.Packets != 3 {
		t.Fatalf("real-server slot %+v, want epoch 2 and 3 packets", b)
	}
}
