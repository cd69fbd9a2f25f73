package pipeline

import (
	"bytes"
	"dsrlb/conf"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/pipeline/header"
)

var (
	portMAC   = header.MAC{0x02, 0, 0, 0, 0, 0x01}
	clientMAC = header.MAC{0x02, 0, 0, 0, 0, 0xc1}
	rs1MAC    = header.MAC{0x02, 0, 0, 0, 0, 0x21}
	rs2MAC    = header.MAC{0x02, 0, 0, 0, 0, 0x22}
	own       = netip.MustParsePrefix("192.0.2.10/24")
	vip       = netip.MustParseAddr("192.0.2.100")
	vipUDP    = netip.MustParseAddr("192.0.2.101")
	client    = netip.MustParseAddr("198.51.100.7")
	rs1       = netip.MustParseAddr("192.0.2.21")
	rs2       = netip.MustParseAddr("192.0.2.22")
	rs3       = netip.MustParseAddr("192.0.2.23") // never answers ARP
)

func testConfig() *Config {
	return &Config{
		Own4:     own,
		PortMACs: []header.MAC{portMAC},
		Services: []ServiceConfig{
			{Name: "web", VIP: vip, Proto: header.IPProtoTCP, Port: 80, Method: conf.MethodL2DSR, Size: 65537,
				Backends: []BackendConfig{{Addr: rs1, Weight: 1}, {Addr: rs2, Weight: 1}, {Addr: rs3, Weight: 1}}},
			{Name: "web-any", VIP: vip, Proto: header.IPProtoTCP, Port: 0, Method: conf.MethodL2DSR, Size: 251, SourceIP: true,
				Backends: []BackendConfig{{Addr: rs1, Weight: 1}, {Addr: rs2, Weight: 1}}},
			{Name: "dns", VIP: vipUDP, Proto: header.IPProtoUDP, Port: 53, Method: conf.MethodL2DSR, Size: 251,
				Backends: []BackendConfig{{Addr: rs1, Weight: 0}, {Addr: rs2, Weight: 1}}},
			{Name: "empty", VIP: vipUDP, Proto: header.IPProtoUDP, Port: 54, Method: conf.MethodL2DSR, Size: 251},
		},
	}
}

func testNeighbors(ip netip.Addr) (Neighbor, bool) {
	switch ip {
	case rs1:
		return Neighbor{MAC: rs1MAC}, true
	case rs2:
		return Neighbor{MAC: rs2MAC}, true
	}
	return Neighbor{}, false
}

func testSnapshot(t testing.TB) *Snapshot {
	t.Helper()
	s, _, err := Build(testConfig(), testNeighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(src, dst header.MAC, t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr(src[:]), DstMAC: net.HardwareAddr(dst[:]), EthernetType: t}
}

func ip4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 61, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Flags: layers.IPv4DontFragment}
}

func tcpFrame(t testing.TB, src, dst netip.Addr, sport, dport uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Seq: 1000, Window: 64240}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload("hello"))
}

func udpFrame(t testing.TB, src, dst netip.Addr, sport, dport uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("q"))
}

func arpFrame(t testing.TB, op uint16, senderMAC header.MAC, sender, target netip.Addr, vlan uint16) []byte {
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: senderMAC[:], SourceProtAddress: sender.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()}
	if vlan != 0 {
		return serialize(t, eth(senderMAC, header.BroadcastMAC, layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: vlan, Type: layers.EthernetTypeARP}, a)
	}
	return serialize(t, eth(senderMAC, header.BroadcastMAC, layers.EthernetTypeARP), a)
}

func icmpFrame(t testing.TB, src, dst netip.Addr, typ uint8) []byte {
	ip := ip4(src, dst, layers.IPProtocolICMPv4)
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 7, Seq: 3}
	return serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv4), ip, icmp, gopacket.Payload("pingpayload"))
}

// run processes one frame (with 128 bytes of headroom) and returns the
// packet and the frame after processing.
func run(t testing.TB, w *Worker, s *Snapshot, frame []byte) (Packet, []byte) {
	t.Helper()
	buf := make([]byte, 128+len(frame)+64)
	copy(buf[128:], frame)
	pk := []Packet{{Buf: buf, Off: 128, Len: len(frame)}}
	w.Process(s, 0, pk)
	return pk[0], pk[0].Frame()
}

func TestForwardL2DSR(t *testing.T) {
	s := testSnapshot(t)
	w := NewWorker(0)
	in := tcpFrame(t, client, vip, 40000, 80)
	p, out := run(t, w, s, in)
	if p.Verdict != Forward {
		t.Fatalf("verdict %v, want forward", p.Verdict)
	}
	e := header.Ethernet(out)
	if e.Src() != portMAC {
		t.Errorf("source MAC %v, want the port's %v", e.Src(), portMAC)
	}
	if e.Dst() != rs1MAC && e.Dst() != rs2MAC {
		t.Errorf("destination MAC %v is no resolved real server", e.Dst())
	}
	if !bytes.Equal(out[12:], in[12:]) {
		t.Error("L2 DSR changed bytes past the MAC addresses")
	}
	if p.OutPort != 0 {
		t.Errorf("out port %d", p.OutPort)
	}
}

func TestForwardSpreadsFlowsAndKeepsThem(t *testing.T) {
	s := testSnapshot(t)
	w := NewWorker(0)
	count := map[header.MAC]int{}
	const flows = 2000
	for i := 0; i < flows; i++ {
		sport := uint16(20000 + i)
		_, out := run(t, w, s, tcpFrame(t, client, vip, sport, 80))
		mac := header.Ethernet(out).Dst()
		count[mac]++
		_, again := run(t, w, s, tcpFrame(t, client, vip, sport, 80))
		if header.Ethernet(again).Dst() != mac {
			t.Fatalf("flow %d moved between packets", i)
		}
	}
	if len(count) != 2 {
		t.Fatalf("flows went to %d real servers (%v), want the 2 resolved ones", len(count), count)
	}
	for mac, n := range count {
		if n < flows*40/100 || n > flows*60/100 {
			t.Errorf("%v got %d of %d flows", mac, n, flows)
		}
	}
}

func TestSourceIPPersistenceAndAnyPort(t *testing.T) {
	s := testSnapshot(t)
	w := NewWorker(0)
	// Port 8080 has no service of its own: the all-ports service with
	// source-IP hashing takes it, so every port of one client lands on one
	// server.
	var first header.MAC
	for i := 0; i < 200; i++ {
		p, out := run(t, w, s, tcpFrame(t, client, vip, uint16(30000+i), uint16(8000+i)))
		if p.Verdict != Forward {
			t.Fatalf("verdict %v", p.Verdict)
		}
		mac := header.Ethernet(out).Dst()
		if i == 0 {
			first = mac
		} else if mac != first {
			t.Fatalf("source-IP service moved client between servers (%v, %v)", first, mac)
		}
	}
}

func TestDropReasons(t *testing.T) {
	s := testSnapshot(t)
	trunc := tcpFrame(t, client, vip, 1, 80)[:14+20+10]
	badIHL := tcpFrame(t, client, vip, 1, 80)
	badIHL[14] = 0x44
	badSum := tcpFrame(t, client, vip, 1, 80)
	badSum[14+10] ^= 0xff
	frag := tcpFrame(t, client, vip, 1, 80)
	frag[14+6] |= 0x20 // more fragments
	frag[14+10], frag[14+11] = 0, 0
	header.IPv4(frag[14:]).SetChecksum(header.IPv4(frag[14:]).CalculateChecksum())
	qinq := tcpFrame(t, client, vip, 1, 80)
	qinq = append(append(append([]byte{}, qinq[:12]...), 0x88, 0xa8, 0, 5, 0x81, 0, 0, 6), qinq[12:]...)
	v6 := serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv6),
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolNoNextHeader, HopLimit: 64,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")})
	gre := serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv4), ip4(client, vip, layers.IPProtocolGRE), gopacket.Payload("xxxxxxxx"))

	cases := []struct {
		name  string
		frame []byte
		want  Verdict
	}{
		{"runt", []byte{1, 2, 3}, DropMalformed},
		{"truncated tcp", trunc, DropMalformed},
		{"ihl past total length", badIHL, DropMalformed},
		{"bad ip checksum", badSum, DropBadChecksum},
		{"fragment to vip", frag, DropFragment},
		{"qinq", qinq, DropUnsupportedL2},
		{"ipv6", v6, DropNotVIP},
		{"not a vip", tcpFrame(t, client, netip.MustParseAddr("192.0.2.77"), 1, 80), DropNotVIP},
		{"vip, udp to tcp-only vip", udpFrame(t, client, vip, 1, 80), DropNoService},
		{"vip, port without service", udpFrame(t, client, vipUDP, 1, 99), DropNoService},
		{"vip, other protocol", gre, DropNoService},
		{"service without backends", udpFrame(t, client, vipUDP, 1, 54), DropNoBackend},
		{"own address tcp", tcpFrame(t, client, own.Addr(), 1, 22), DropOwnAddress},
		{"icmp not echo to vip", icmpFrame(t, client, vip, 13), DropICMPNotEcho},
		{"arp for someone else", arpFrame(t, 1, clientMAC, client, netip.MustParseAddr("192.0.2.99"), 0), DropARPIgnored},
		{"unknown ethertype", serialize(t, eth(clientMAC, portMAC, 0x88cc), gopacket.Payload(make([]byte, 46))), DropUnsupportedL2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := NewWorker(0)
			p, _ := run(t, w, s, c.frame)
			if p.Verdict != c.want {
				t.Fatalf("verdict %v, want %v", p.Verdict, c.want)
			}
			w.Publish()
			got := w.Shared.Load()
			if got.Verdicts[c.want] != 1 || got.RxPackets != 1 || got.Drops() != 1 {
				t.Fatalf("counters: %v=%d rx=%d drops=%d", c.want, got.Verdicts[c.want], got.RxPackets, got.Drops())
			}
		})
	}
}

func TestNICChecksumFlags(t *testing.T) {
	s := testSnapshot(t)
	w := NewWorker(0)
	frame := tcpFrame(t, client, vip, 1, 80)
	buf := append(make([]byte, 0, len(frame)), frame...)
	pk := []Packet{{Buf: buf, Len: len(buf), IPCsum: ChecksumBad}}
	w.Process(s, 0, pk)
	if pk[0].Verdict != DropBadChecksum {
		t.Fatalf("NIC-flagged bad checksum: verdict %v", pk[0].Verdict)
	}
	// A NIC that vouches for the checksum is trusted: no software check.
	bad := tcpFrame(t, client, vip, 1, 80)
	bad[14+10] ^= 0xff
	pk = []Packet{{Buf: bad, Len: len(bad), IPCsum: ChecksumGood}}
	w.Process(s, 0, pk)
	if pk[0].Verdict != Forward {
		t.Fatalf("NIC-validated packet: verdict %v", pk[0].Verdict)
	}
}

func TestIPv4OptionsHonoured(t *testing.T) {
	s := testSnapshot(t)
	w := NewWorker(0)
	ip := ip4(client, vipUDP, layers.IPProtocolUDP)
	ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
	udp.SetNetworkLayerForChecksum(ip)
	frame := serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("q"))
	if frame[14]&0xf != 6 {
		t.Fatalf("test packet IHL %d, want 6", frame[14]&0xf)
	}
	p, out := run(t, w, s, frame)
	if p.Verdict != Forward || header.Ethernet(out).Dst() != rs2MAC {
		t.Fatalf("verdict %v to %v; want forward to rs2, the only weighted server of dns", p.Verdict, header.Ethernet(out).Dst())
	}
}

func TestARPReplyForVIPAndOwnAddress(t *testing.T) {
	s := testSnapshot(t)
	for _, tc := range []struct {
		target netip.Addr
		vlan   uint16
	}{{vip, 0}, {own.Addr(), 0}, {vipUDP, 42}} {
		w := NewWorker(0)
		in := arpFrame(t, header.ARPRequest, clientMAC, client, tc.target, tc.vlan)
		p, out := run(t, w, s, in)
		if p.Verdict != ARPReply {
			t.Fatalf("%v: verdict %v", tc.target, p.Verdict)
		}
		pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		a, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
		e, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if a == nil || e == nil {
			t.Fatalf("reply does not decode: %v", pkt)
		}
		if tc.vlan != 0 {
			d, _ := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
			if d == nil || d.VLANIdentifier != tc.vlan {
				t.Fatalf("reply lost VLAN tag %d", tc.vlan)
			}
		}
		if a.Operation != layers.ARPReply ||
			!bytes.Equal(a.SourceHwAddress, portMAC[:]) || !bytes.Equal(a.SourceProtAddress, tc.target.AsSlice()) ||
			!bytes.Equal(a.DstHwAddress, clientMAC[:]) || !bytes.Equal(a.DstProtAddress, client.AsSlice()) ||
			!bytes.Equal(e.SrcMAC, portMAC[:]) || !bytes.Equal(e.DstMAC, clientMAC[:]) {
			t.Fatalf("bad reply for %v: %+v / %+v", tc.target, a, e)
		}
	}
}

func TestARPLearnsTrackedNeighbours(t *testing.T) {
	s := testSnapshot(t)
	w := NewWorker(0)
	mac := header.MAC{0x02, 0, 0, 0, 0, 0x23}
	p, _ := run(t, w, s, arpFrame(t, header.ARPReply, mac, rs3, own.Addr(), 0))
	if p.Verdict != ARPLearned {
		t.Fatalf("verdict %v", p.Verdict)
	}
	l, ok := w.Learn.Pop()
	if !ok || l.IP != rs3 || l.MAC != mac {
		t.Fatalf("learned %+v %v", l, ok)
	}
	// A request from a real server for our address is answered and
	// teaches us its MAC too.
	p, _ = run(t, w, s, arpFrame(t, header.ARPRequest, mac, rs3, own.Addr(), 0))
	if p.Verdict != ARPReply {
		t.Fatalf("verdict %v", p.Verdict)
	}
	if _, ok := w.Learn.Pop(); !ok {
		t.Fatal("request from a tracked neighbour taught nothing")
	}
	// An untracked sender teaches nothing.
	run(t, w, s, arpFrame(t, header.ARPReply, clientMAC, client, own.Addr(), 0))
	if l, ok := w.Learn.Pop(); ok {
		t.Fatalf("learned untracked %+v", l)
	}
}

func TestEchoReply(t *testing.T) {
	s := testSnapshot(t)
	for _, dst := range []netip.Addr{vip, own.Addr()} {
		w := NewWorker(0)
		p, out := run(t, w, s, icmpFrame(t, client, dst, 8))
		if p.Verdict != EchoReply {
			t.Fatalf("%v: verdict %v", dst, p.Verdict)
		}
		ip := header.IPv4(out[14:])
		if netip.AddrFrom4(ip.Src()) != dst || netip.AddrFrom4(ip.Dst()) != client {
			t.Fatalf("reply %v -> %v", ip.Src(), ip.Dst())
		}
		if !ip.ChecksumValid() {
			t.Fatal("reply IP checksum wrong")
		}
		icmp := header.ICMPv4(ip.Payload())
		if icmp.Type() != 0 || header.FoldChecksum(header.Checksum(icmp, 0)) != 0 {
			t.Fatalf("reply ICMP type %d, checksum fold %#x", icmp.Type(), header.FoldChecksum(header.Checksum(icmp, 0)))
		}
		if header.Ethernet(out).Dst() != clientMAC || header.Ethernet(out).Src() != portMAC {
			t.Fatal("reply MACs not swapped")
		}
	}
}

func TestCountersAddUp(t *testing.T) {
	s := testSnapshot(t)
	w := NewWorker(0)
	frames := [][]byte{
		tcpFrame(t, client, vip, 1, 80), udpFrame(t, client, vipUDP, 1, 53), icmpFrame(t, client, vip, 8),
		arpFrame(t, 1, clientMAC, client, vip, 0), []byte{0}, tcpFrame(t, client, client, 1, 1),
	}
	const rounds = 100
	for r := 0; r < rounds; r++ {
		for _, f := range frames {
			run(t, w, s, f)
		}
	}
	w.Publish()
	c := w.Shared.Load()
	var sum uint64
	for _, n := range c.Verdicts {
		sum += n
	}
	if c.RxPackets != rounds*uint64(len(frames)) || sum != c.RxPackets {
		t.Fatalf("rx %d, verdict sum %d, want %d", c.RxPackets, sum, rounds*len(frames))
	}
	if c.Verdicts[Forward] != 2*rounds || c.Verdicts[EchoReply] != rounds || c.Verdicts[ARPReply] != rounds {
		t.Fatalf("counters %+v", c.Verdicts)
	}
}

func TestProcessAllocatesNothing(t *testing.T) {
	s := testSnapshot(t)
	w := NewWorker(0)
	frames := [][]byte{
		tcpFrame(t, client, vip, 1, 80), udpFrame(t, client, vipUDP, 1, 53), icmpFrame(t, client, vip, 8),
		arpFrame(t, 1, clientMAC, client, vip, 0), arpFrame(t, 2, rs1MAC, rs1, own.Addr(), 0), []byte{0},
	}
	pk := make([]Packet, 32)
	bufs := make([][]byte, 32)
	for i := range pk {
		f := frames[i%len(frames)]
		bufs[i] = make([]byte, 128+len(f))
		copy(bufs[i][128:], f)
		pk[i] = Packet{Buf: bufs[i], Off: 128, Len: len(f)}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		w.Process(s, 0, pk)
		for {
			if _, ok := w.Learn.Pop(); !ok {
				break
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("Process allocates %.1f times per burst", allocs)
	}
}

func TestBuildSkipsUnresolvedAndReusesTables(t *testing.T) {
	cfg := testConfig()
	s1, st, err := Build(cfg, testNeighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Backends != 3 || st[0].Scheduled != 2 || st[0].Unresolved != 1 {
		t.Fatalf("web state %+v", st[0])
	}
	if st[2].Scheduled != 1 || st[2].Unresolved != 0 {
		t.Fatalf("dns state %+v (weight 0 server must not count)", st[2])
	}
	// Same resolved set with a new MAC: table shared, MAC updated.
	moved := func(ip netip.Addr) (Neighbor, bool) {
		n, ok := testNeighbors(ip)
		if ip == rs1 {
			n.MAC[5] = 0x99
		}
		return n, ok
	}
	s2, _, err := Build(cfg, moved, s1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if &s2.services[0].table[0] != &s1.services[0].table[0] {
		t.Error("table rebuilt although the scheduled set did not change")
	}
	if s2.services[0].hops[0].mac[5] != 0x99 || s2.Gen != s1.Gen+1 {
		t.Error("new MAC or generation not taken")
	}
	// rs3 resolves: the table is rebuilt and now includes it.
	all := func(ip netip.Addr) (Neighbor, bool) { return Neighbor{MAC: header.MAC{2, 0, 0, 0, 0, 0x30}}, true }
	s3, st3, err := Build(cfg, all, s2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st3[0].Scheduled != 3 || &s3.services[0].table[0] == &s2.services[0].table[0] {
		t.Error("table not rebuilt after a real server resolved")
	}
	if !s3.IsVIP(vip) || s3.IsVIP(rs1) || !s3.Tracked(rs3) || len(s3.VIPs4()) != 2 {
		t.Error("VIP/neighbour sets wrong")
	}
}

func TestBuildRejectsDuplicates(t *testing.T) {
	cfg := testConfig()
	cfg.Services = append(cfg.Services, cfg.Services[0])
	if _, _, err := Build(cfg, testNeighbors, nil, nil); err == nil {
		t.Fatal("duplicate service accepted")
	}
}

func FuzzProcess(f *testing.F) {
	s := testSnapshot(f)
	f.Add(tcpFrame(f, client, vip, 1, 80))
	f.Add(icmpFrame(f, client, vip, 8))
	f.Add(arpFrame(f, 1, clientMAC, client, vip, 7))
	f.Add(udpFrame(f, client, vipUDP, 9, 53))
	w := NewWorker(0)
	f.Fuzz(func(t *testing.T, frame []byte) {
		buf := append([]byte(nil), frame...)
		pk := []Packet{{Buf: buf, Len: len(buf)}}
		w.Process(s, 0, pk)
		if pk[0].Verdict >= NumVerdicts {
			t.Fatalf("verdict %d", pk[0].Verdict)
		}
		if pk[0].Verdict.Transmits() && len(buf) != len(frame) {
			t.Fatal("length changed")
		}
		w.Learn.Pop()
	})
}
