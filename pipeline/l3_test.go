package pipeline

import (
	"bytes"
	"dsrlb/conf"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/pipeline/header"
)

var (
	gateway = netip.MustParseAddr("192.0.2.1")
	gwMAC   = header.MAC{0x02, 0, 0, 0, 0, 0x01}
	remote1 = netip.MustParseAddr("198.51.100.21")
	vipDSCP = netip.MustParseAddr("192.0.2.110")
	vipIPIP = netip.MustParseAddr("192.0.2.111")
	vipGRE  = netip.MustParseAddr("192.0.2.112")
	vipGUE  = netip.MustParseAddr("192.0.2.113")
	vipMix  = netip.MustParseAddr("192.0.2.114")
)

func l3Config() *Config {
	svc := func(name string, v netip.Addr, m conf.Method, backends ...BackendConfig) ServiceConfig {
		return ServiceConfig{Name: name, VIP: v, Proto: header.IPProtoTCP, Port: 80, Method: m, Size: 251,
			DSCP: 10, GUEPort: 6080, Backends: backends}
	}
	one := BackendConfig{Addr: remote1, Weight: 1}
	return &Config{
		Own4:     own,
		PortMACs: []header.MAC{portMAC},
		PortMTUs: []int{1500},
		Routes:   []Route{{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Gateway: gateway}},
		Services: []ServiceConfig{
			svc("dscp", vipDSCP, conf.MethodDSCP, one),
			svc("ipip", vipIPIP, conf.MethodIPIP, one),
			svc("gre", vipGRE, conf.MethodGRE, one),
			svc("gue", vipGUE, conf.MethodGUE, one),
			// l2dsr service with one real server tunnelled instead
			svc("mix", vipMix, conf.MethodL2DSR, BackendConfig{Addr: rs1, Weight: 1, Method: conf.MethodIPIP}),
		},
	}
}

func l3Neighbors(ip netip.Addr) (Neighbor, bool) {
	switch ip {
	case gateway:
		return Neighbor{MAC: gwMAC}, true
	case rs1:
		return Neighbor{MAC: rs1MAC}, true
	}
	return Neighbor{}, false
}

func l3Snapshot(t testing.TB) *Snapshot {
	t.Helper()
	s, _, err := Build(l3Config(), l3Neighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bigTCP is a TCP packet of the given IPv4 total length.
func bigTCP(t testing.TB, dst netip.Addr, total int, df bool) []byte {
	ip := ip4(client, dst, layers.IPProtocolTCP)
	if !df {
		ip.Flags = 0
	}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, ACK: true, Seq: 1, Window: 1000}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(make([]byte, total-40)))
}

func TestDSCPMethod(t *testing.T) {
	s := l3Snapshot(t)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
	in := tcpFrame(t, client, vipDSCP, 40000, 80)
	p, out := run(t, w, s, in)
	if p.Verdict != Forward {
		t.Fatalf("verdict %v", p.Verdict)
	}
	if header.Ethernet(out).Dst() != gwMAC {
		t.Fatalf("to %v, want the gateway's MAC", header.Ethernet(out).Dst())
	}
	ip := header.IPv4(out[14:])
	if netip.AddrFrom4(ip.Dst()) != remote1 || ip.DSCP() != 10 || !ip.ChecksumValid() {
		t.Fatalf("dst %v dscp %d checksum ok %v", netip.AddrFrom4(ip.Dst()), ip.DSCP(), ip.ChecksumValid())
	}
	seg := ip.Payload()
	if header.L4Checksum4(ip.Src(), ip.Dst(), header.IPProtoTCP, seg, header.TCPChecksumOffset) != header.TCP(seg).Checksum() {
		t.Fatal("TCP checksum wrong after the DSCP rewrite")
	}
}

func TestTunnelMethods(t *testing.T) {
	s := l3Snapshot(t)
	for _, tc := range []struct {
		vip   netip.Addr
		proto layers.IPProtocol
		dst   netip.Addr
		mac   header.MAC
	}{
		{vipIPIP, layers.IPProtocolIPv4, remote1, gwMAC},
		{vipGRE, layers.IPProtocolGRE, remote1, gwMAC},
		{vipGUE, layers.IPProtocolUDP, remote1, gwMAC},
		{vipMix, layers.IPProtocolIPv4, rs1, rs1MAC},
	} {
		w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
		in := tcpFrame(t, client, tc.vip, 40000, 80)
		p, out := run(t, w, s, in)
		if p.Verdict != Forward {
			t.Fatalf("%v: verdict %v", tc.vip, p.Verdict)
		}
		pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.NoCopy)
		e, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		outer, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if e == nil || outer == nil {
			t.Fatalf("%v: does not decode", tc.vip)
		}
		if !bytes.Equal(e.DstMAC, tc.mac[:]) || !bytes.Equal(e.SrcMAC, portMAC[:]) {
			t.Errorf("%v: MACs %v -> %v", tc.vip, e.SrcMAC, e.DstMAC)
		}
		if !outer.SrcIP.Equal(own.Addr().AsSlice()) || !outer.DstIP.Equal(tc.dst.AsSlice()) || outer.Protocol != tc.proto {
			t.Errorf("%v: outer %v -> %v proto %v", tc.vip, outer.SrcIP, outer.DstIP, outer.Protocol)
		}
		// The inner IP packet is byte for byte what the client sent, right
		// behind the outer headers.
		inner := in[14 : 14+int(header.IPv4(in[14:]).TotalLen())]
		if !bytes.Equal(out[len(out)-len(inner):], inner) || len(out) != 14+encapOf(tc.proto).Overhead(false)+len(inner) {
			t.Errorf("%v: inner packet changed or wrong overhead (%d bytes for a %d-byte packet)", tc.vip, len(out), len(inner))
		}
	}
}

// encapOf maps an outer protocol back to the method, for the overhead.
func encapOf(p layers.IPProtocol) conf.Method {
	switch p {
	case layers.IPProtocolGRE:
		return conf.MethodGRE
	case layers.IPProtocolUDP:
		return conf.MethodGUE
	}
	return conf.MethodIPIP
}

func TestTunnelMTU(t *testing.T) {
	s := l3Snapshot(t)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
	// 1480 bytes + 20 of IPIP = 1500: fits exactly.
	if p, _ := run(t, w, s, bigTCP(t, vipIPIP, 1480, true)); p.Verdict != Forward {
		t.Fatalf("1480-byte packet: %v", p.Verdict)
	}
	// 1500 bytes with DF: ICMP fragmentation needed, MTU 1480, back to the
	// client on the port it came from.
	p, out := run(t, w, s, bigTCP(t, vipIPIP, 1500, true))
	if p.Verdict != FragNeeded || p.OutPort != 0 {
		t.Fatalf("1500-byte DF packet: %v on port %d", p.Verdict, p.OutPort)
	}
	pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, _ := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || icmp == nil || icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 4) ||
		!ip.DstIP.Equal(client.AsSlice()) || !ip.SrcIP.Equal(own.Addr().AsSlice()) {
		t.Fatalf("not the ICMP fragmentation needed expected: %v", pkt)
	}
	if mtu := header.ICMPv4(ip.Payload).MTU(); mtu != 1480 {
		t.Fatalf("next-hop MTU %d, want 1480", mtu)
	}
	// Without DF: dropped, counted.
	if p, _ := run(t, w, s, bigTCP(t, vipIPIP, 1500, false)); p.Verdict != DropTooBig {
		t.Fatalf("1500-byte packet without DF: %v", p.Verdict)
	}
	// GUE costs 28 bytes: 1473 does not fit.
	if p, _ := run(t, w, s, bigTCP(t, vipGUE, 1473, true)); p.Verdict != FragNeeded {
		t.Fatalf("1473-byte packet over GUE: %v", p.Verdict)
	}
}

func TestICMPErrorsRateLimited(t *testing.T) {
	s := l3Snapshot(t)
	clock := new(Clock)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64, Clock: clock})
	frame := bigTCP(t, vipIPIP, 1500, true)
	count := map[Verdict]int{}
	for i := 0; i < icmpRate+10; i++ {
		p, _ := run(t, w, s, frame)
		count[p.Verdict]++
	}
	if count[FragNeeded] != icmpRate || count[DropICMPRateLimit] != 10 {
		t.Fatalf("verdicts %v", count)
	}
	clock.Set(1)
	if p, _ := run(t, w, s, frame); p.Verdict != FragNeeded {
		t.Fatalf("next second: %v", p.Verdict)
	}
}

func TestL3MethodsAllocateNothing(t *testing.T) {
	s := l3Snapshot(t)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 10})
	frames := [][]byte{
		tcpFrame(t, client, vipDSCP, 1, 80), tcpFrame(t, client, vipIPIP, 2, 80), tcpFrame(t, client, vipGRE, 3, 80),
		tcpFrame(t, client, vipGUE, 4, 80), bigTCP(t, vipIPIP, 1500, true),
	}
	pk := make([]Packet, len(frames))
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = make([]byte, 128+len(f))
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for i, f := range frames {
			copy(bufs[i][128:], f)
			pk[i] = Packet{Buf: bufs[i], Off: 128, Len: len(f)}
		}
		w.Process(s, 0, pk)
	})
	if allocs != 0 {
		t.Fatalf("L3 methods allocate %.1f times per burst", allocs)
	}
	for i := range pk[:4] {
		if pk[i].Verdict != Forward {
			t.Fatalf("packet %d: %v", i, pk[i].Verdict)
		}
	}
}

func TestBuildL3Errors(t *testing.T) {
	cfg := l3Config()
	cfg.Routes = nil
	if _, _, err := Build(cfg, l3Neighbors, nil, nil); err == nil {
		t.Fatal("real server without a route accepted")
	}
	cfg = l3Config()
	cfg.Services[0].DSCP = 0
	if _, _, err := Build(cfg, l3Neighbors, nil, nil); err == nil {
		t.Fatal("dscp method without a code accepted")
	}
	cfg = l3Config()
	cfg.Services[3].GUEPort = 0
	if _, _, err := Build(cfg, l3Neighbors, nil, nil); err == nil {
		t.Fatal("gue without a port accepted")
	}
}
