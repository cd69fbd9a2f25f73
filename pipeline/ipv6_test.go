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
	own6     = netip.MustParsePrefix("2001:db8::10/64")
	gateway6 = netip.MustParseAddr("2001:db8::1")
	gw6MAC   = header.MAC{0x02, 0, 0, 0, 0, 0x61}
	vip6     = netip.MustParseAddr("2001:db8::100")
	vip6IPIP = netip.MustParseAddr("2001:db8::111")
	vip6GRE  = netip.MustParseAddr("2001:db8::112")
	vip6GUE  = netip.MustParseAddr("2001:db8::113")
	vip6GRE4 = netip.MustParseAddr("2001:db8::114") // IPv6 in GRE over IPv4
	vip4In6  = netip.MustParseAddr("192.0.2.115")   // IPv4 in ipip over IPv6
	client6  = netip.MustParseAddr("2001:db8:c::7")
	rs6a     = netip.MustParseAddr("2001:db8::21")
	rs6b     = netip.MustParseAddr("2001:db8::22")
	rs6c     = netip.MustParseAddr("2001:db8::23") // never answers
	remote6  = netip.MustParseAddr("2001:db8:1::21")
)

func v6Config() *Config {
	svc := func(name string, v netip.Addr, m conf.Method, backends ...BackendConfig) ServiceConfig {
		return ServiceConfig{Name: name, VIP: v, Proto: header.IPProtoTCP, Port: 80, Method: m, Size: 251,
			GUEPort: 6080, Backends: backends}
	}
	one6 := BackendConfig{Addr: remote6, Weight: 1}
	return &Config{
		Own4:     own,
		Own6:     own6,
		Gateway6: gateway6,
		PortMACs: []header.MAC{portMAC},
		PortMTUs: []int{1500},
		Routes:   []Route{{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Gateway: gateway}},
		Services: []ServiceConfig{
			svc("web6", vip6, conf.MethodL2DSR, BackendConfig{Addr: rs6a, Weight: 1}, BackendConfig{Addr: rs6b, Weight: 1},
				BackendConfig{Addr: rs6c, Weight: 1}),
			svc("ipip6", vip6IPIP, conf.MethodIPIP, one6),
			svc("gre6", vip6GRE, conf.MethodGRE, one6),
			svc("gue6", vip6GUE, conf.MethodGUE, one6),
			svc("gre6in4", vip6GRE4, conf.MethodGRE, BackendConfig{Addr: remote1, Weight: 1}),
			svc("ipip4in6", vip4In6, conf.MethodIPIP, one6),
		},
	}
}

func v6Neighbors(ip netip.Addr) (Neighbor, bool) {
	switch ip {
	case rs6a:
		return Neighbor{MAC: rs1MAC}, true
	case rs6b:
		return Neighbor{MAC: rs2MAC}, true
	case gateway6:
		return Neighbor{MAC: gw6MAC}, true
	case gateway:
		return Neighbor{MAC: gwMAC}, true
	}
	return Neighbor{}, false
}

func v6Snapshot(t testing.TB, mod ...func(*Config)) *Snapshot {
	t.Helper()
	cfg := v6Config()
	for _, m := range mod {
		m(cfg)
	}
	s, _, err := Build(cfg, v6Neighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ip6(src, dst netip.Addr, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 61, NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func tcp6Frame(t testing.TB, src, dst netip.Addr, sport, dport uint16, payload int) []byte {
	ip := ip6(src, dst, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Seq: 1000, Window: 64240}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv6), ip, tcp, gopacket.Payload(make([]byte, payload)))
}

// tcp6WithExt is a TCP SYN to dst behind 8-byte extension headers of the
// given types (options: one PadN).
func tcp6WithExt(t testing.TB, dst netip.Addr, types ...uint8) []byte {
	plain := tcp6Frame(t, client6, dst, 40000, 80, 5)
	out := append([]byte(nil), plain[:14+header.IPv6Len]...)
	for i := range types {
		next := uint8(header.IPProtoTCP)
		if i+1 < len(types) {
			next = types[i+1]
		}
		out = append(out, next, 0, 1, 4, 0, 0, 0, 0)
	}
	out = append(out, plain[14+header.IPv6Len:]...)
	h := header.IPv6(out[14:])
	h.SetNextHeader(types[0])
	h.SetPayloadLen(uint16(len(out) - 14 - header.IPv6Len))
	return out
}

func ndpFrame(t testing.TB, typ uint8, srcMAC header.MAC, src, dst, target netip.Addr, opt uint8, hop uint8) []byte {
	ip := ip6(src, dst, layers.IPProtocolICMPv6)
	ip.HopLimit = hop
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	body := make([]byte, 20)
	copy(body[4:], target.AsSlice())
	if typ == header.ICMPv6NeighborAdvert {
		body[0] = header.NAFlagSolicited | header.NAFlagOverride
	}
	if opt != 0 {
		body = append(body, opt, 1, srcMAC[0], srcMAC[1], srcMAC[2], srcMAC[3], srcMAC[4], srcMAC[5])
	}
	dstMAC := portMAC
	if dst.Is6() && dst.As16()[0] == 0xff {
		dstMAC = header.MulticastMAC6(dst.As16())
	}
	return serialize(t, eth(srcMAC, dstMAC, layers.EthernetTypeIPv6), ip, ic, gopacket.Payload(body))
}

func echo6Frame(t testing.TB, src, dst netip.Addr) []byte {
	ip := ip6(src, dst, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(header.ICMPv6EchoRequest, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(clientMAC, portMAC, layers.EthernetTypeIPv6), ip, ic,
		&layers.ICMPv6Echo{Identifier: 7, SeqNumber: 3}, gopacket.Payload("ping6payload"))
}

// icmp6Verifies reports whether the ICMPv6 checksum of the IPv6 packet at
// frame[14:] (no extension headers) is right.
func icmp6Verifies(frame []byte) bool {
	ip := header.IPv6(frame[14:])
	c := ip[header.IPv6Len : header.IPv6Len+int(ip.PayloadLen())]
	return header.FoldChecksum(header.Checksum(c, header.PseudoHeaderSum6(ip.Src(), ip.Dst(), header.IPProtoICMPv6, uint32(len(c))))) == 0
}

func TestForwardL2DSRIPv6(t *testing.T) {
	s := v6Snapshot(t)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 10})
	seen := map[header.MAC]int{}
	for sport := uint16(1000); sport < 1200; sport++ {
		in := tcp6Frame(t, client6, vip6, sport, 80, 5)
		p, out := run(t, w, s, in)
		if p.Verdict != Forward {
			t.Fatalf("verdict %v", p.Verdict)
		}
		dst := header.Ethernet(out).Dst()
		seen[dst]++
		if header.Ethernet(out).Src() != portMAC || !bytes.Equal(out[12:], in[12:]) {
			t.Fatalf("l2dsr changed more than the MACs")
		}
		// The same flow again: same real server (connection tracking).
		if _, again := run(t, w, s, in); header.Ethernet(again).Dst() != dst {
			t.Fatal("flow moved")
		}
	}
	if len(seen) != 2 || seen[rs1MAC] < 60 || seen[rs2MAC] < 60 {
		t.Fatalf("spread over the two resolved servers: %v", seen)
	}
}

func TestNeighborSolicitationAnswered(t *testing.T) {
	s := v6Snapshot(t)
	w := NewWorker(0)
	for _, tc := range []struct {
		name        string
		src, dst    netip.Addr
		target      netip.Addr
		opt         bool
		wantDst     netip.Addr
		wantDstMAC  header.MAC
		wantFlags   uint8
		wantVerdict Verdict
	}{
		{"VIP, multicast", client6, netip.AddrFrom16(header.SolicitedNode6(vip6.As16())), vip6, true, client6, clientMAC,
			header.NAFlagSolicited | header.NAFlagOverride, NDPReply},
		{"own address", client6, netip.AddrFrom16(header.SolicitedNode6(own6.Addr().As16())), own6.Addr(), true, client6, clientMAC,
			header.NAFlagSolicited | header.NAFlagOverride, NDPReply},
		{"VIP, unicast, no option", client6, vip6, vip6, false, client6, clientMAC,
			header.NAFlagSolicited | header.NAFlagOverride, NDPReply},
		{"duplicate address detection", netip.IPv6Unspecified(), netip.AddrFrom16(header.SolicitedNode6(vip6.As16())), vip6, false,
			netip.AddrFrom16(header.AllNodes6), header.MAC{0x33, 0x33, 0, 0, 0, 1}, header.NAFlagOverride, NDPReply},
		{"not ours", client6, netip.AddrFrom16(header.SolicitedNode6(rs6a.As16())), netip.MustParseAddr("2001:db8::99"), true,
			netip.Addr{}, header.MAC{}, 0, DropNDPIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opt uint8
			if tc.opt {
				opt = header.NDPOptSourceLinkLayer
			}
			p, out := run(t, w, s, ndpFrame(t, header.ICMPv6NeighborSolicit, clientMAC, tc.src, tc.dst, tc.target, opt, 255))
			if p.Verdict != tc.wantVerdict {
				t.Fatalf("verdict %v, want %v", p.Verdict, tc.wantVerdict)
			}
			if p.Verdict != NDPReply {
				return
			}
			pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
			e, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			na, _ := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
			if e == nil || ip == nil || na == nil {
				t.Fatalf("not an NA: %v", pkt)
			}
			if !bytes.Equal(e.SrcMAC, portMAC[:]) || !bytes.Equal(e.DstMAC, tc.wantDstMAC[:]) {
				t.Errorf("ethernet %v -> %v", e.SrcMAC, e.DstMAC)
			}
			if !ip.SrcIP.Equal(tc.target.AsSlice()) || !ip.DstIP.Equal(tc.wantDst.AsSlice()) || ip.HopLimit != 255 {
				t.Errorf("ip %v -> %v hop limit %d", ip.SrcIP, ip.DstIP, ip.HopLimit)
			}
			if !na.TargetAddress.Equal(tc.target.AsSlice()) || na.Flags != tc.wantFlags || len(na.Options) != 1 ||
				na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, portMAC[:]) {
				t.Errorf("NA %v flags %#x options %v", na.TargetAddress, na.Flags, na.Options)
			}
			if !icmp6Verifies(out) || len(out) != header.NDPFrameLen {
				t.Errorf("checksum or length (%d) wrong", len(out))
			}
		})
	}
}

func TestNDPValidationAndLearning(t *testing.T) {
	s := v6Snapshot(t)
	w := NewWorker(0)
	sn := netip.AddrFrom16(header.SolicitedNode6(vip6.As16()))
	// RFC 4861 section 7.1: a hop limit other than 255 means the message
	// was forwarded by a router; it is invalid.
	if p, _ := run(t, w, s, ndpFrame(t, header.ICMPv6NeighborSolicit, clientMAC, client6, sn, vip6, header.NDPOptSourceLinkLayer, 64)); p.Verdict != DropMalformed {
		t.Errorf("hop limit 64: %v", p.Verdict)
	}
	bad := ndpFrame(t, header.ICMPv6NeighborSolicit, clientMAC, client6, sn, vip6, header.NDPOptSourceLinkLayer, 255)
	bad[len(bad)-1] ^= 0xff
	if p, _ := run(t, w, s, bad); p.Verdict != DropBadChecksum {
		t.Errorf("bad checksum: %v", p.Verdict)
	}
	if p, _ := run(t, w, s, ndpFrame(t, header.ICMPv6NeighborSolicit, clientMAC, netip.IPv6Unspecified(), sn, vip6, header.NDPOptSourceLinkLayer, 255)); p.Verdict != DropMalformed {
		t.Errorf("DAD with a source link-layer option: %v", p.Verdict)
	}
	// An NA from a tracked real server teaches its MAC.
	p, _ := run(t, w, s, ndpFrame(t, header.ICMPv6NeighborAdvert, rs1MAC, rs6c, own6.Addr(), rs6c, header.NDPOptTargetLinkLayer, 255))
	if p.Verdict != NDPLearned {
		t.Fatalf("NA from a tracked server: %v", p.Verdict)
	}
	if l, ok := w.Learn.Pop(); !ok || l.IP != rs6c || l.MAC != rs1MAC {
		t.Fatalf("learned %v %v", l, ok)
	}
	// So does its solicitation for the own address, which is answered.
	p, _ = run(t, w, s, ndpFrame(t, header.ICMPv6NeighborSolicit, rs2MAC, rs6c, own6.Addr(), own6.Addr(), header.NDPOptSourceLinkLayer, 255))
	if p.Verdict != NDPReply {
		t.Fatalf("NS from a tracked server: %v", p.Verdict)
	}
	if l, ok := w.Learn.Pop(); !ok || l.IP != rs6c || l.MAC != rs2MAC {
		t.Fatalf("learned %v %v", l, ok)
	}
	// An NA for an untracked address is ignored.
	if p, _ := run(t, w, s, ndpFrame(t, header.ICMPv6NeighborAdvert, clientMAC, client6, own6.Addr(), client6, header.NDPOptTargetLinkLayer, 255)); p.Verdict != DropNDPIgnored {
		t.Errorf("NA from a stranger: %v", p.Verdict)
	}
	if _, ok := w.Learn.Pop(); ok {
		t.Error("learned from a stranger")
	}
	// With the exception path, NAs to the own address also reach the
	// kernel (it may have asked).
	sk := v6Snapshot(t, func(c *Config) { c.Kernel = true })
	if p, _ := run(t, w, sk, ndpFrame(t, header.ICMPv6NeighborAdvert, clientMAC, client6, own6.Addr(), client6, header.NDPOptTargetLinkLayer, 255)); p.Verdict != ToKernel {
		t.Errorf("NA to the own address with a kernel: %v", p.Verdict)
	}
}

func TestEchoReplyIPv6(t *testing.T) {
	s := v6Snapshot(t)
	w := NewWorker(0)
	for _, dst := range []netip.Addr{vip6, own6.Addr()} {
		in := echo6Frame(t, client6, dst)
		p, out := run(t, w, s, in)
		if p.Verdict != EchoReply {
			t.Fatalf("%v: %v", dst, p.Verdict)
		}
		pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		ic, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		if ip == nil || ic == nil || ic.TypeCode.Type() != header.ICMPv6EchoReply || !ip.SrcIP.Equal(dst.AsSlice()) ||
			!ip.DstIP.Equal(client6.AsSlice()) || !icmp6Verifies(out) {
			t.Fatalf("%v: reply %v", dst, pkt)
		}
		if !bytes.Equal(out[len(out)-12:], []byte("ping6payload")) || header.Ethernet(out).Dst() != clientMAC {
			t.Fatalf("%v: payload or MAC", dst)
		}
	}
	// Behind a hop-by-hop header: the reply carries the ICMPv6 message
	// right after the fixed header.
	in := echo6Frame(t, client6, vip6)
	ip := header.IPv6(in[14:])
	withExt := append(append(append([]byte(nil), in[:54]...), header.IPProtoICMPv6, 0, 1, 4, 0, 0, 0, 0), in[54:]...)
	header.IPv6(withExt[14:]).SetNextHeader(header.IPv6HopByHop)
	header.IPv6(withExt[14:]).SetPayloadLen(ip.PayloadLen() + 8)
	p, out := run(t, w, s, withExt)
	if p.Verdict != EchoReply || len(out) != len(in) || header.IPv6(out[14:]).NextHeader() != header.IPProtoICMPv6 || !icmp6Verifies(out) {
		t.Fatalf("echo behind hop-by-hop: %v, %d bytes", p.Verdict, len(out))
	}
	// Other ICMPv6 to a VIP is not answered.
	other := ndpFrame(t, header.ICMPv6RouterSolicit, clientMAC, client6, vip6, vip6, 0, 255)
	if p, _ := run(t, w, s, other); p.Verdict != DropICMPNotEcho {
		t.Fatalf("router solicitation to a VIP: %v", p.Verdict)
	}
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	s := v6Snapshot(t)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
	for _, tc := range []struct {
		name string
		in   []byte
		want Verdict
	}{
		{"hop-by-hop, routing, destination options", tcp6WithExt(t, vip6, header.IPv6HopByHop, header.IPv6Routing, header.IPv6DestOpts), Forward},
		{"fragment", tcp6WithExt(t, vip6, header.IPv6Fragment), DropFragment},
		{"authentication header", tcp6WithExt(t, vip6, 51), DropIPv6Ext},
		{"ESP", tcp6WithExt(t, vip6, 50), DropIPv6Ext},
		{"fragment, not a VIP", tcp6WithExt(t, rs6a, header.IPv6Fragment), DropNotVIP},
		{"no service on the port", tcp6Frame(t, client6, vip6, 1, 81, 0), DropNoService},
		{"own address, no kernel", tcp6Frame(t, client6, own6.Addr(), 1, 22, 0), DropOwnAddress},
	} {
		p, out := run(t, w, s, tc.in)
		if p.Verdict != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, p.Verdict, tc.want)
		}
		if p.Verdict == Forward && !bytes.Equal(out[12:], tc.in[12:]) {
			t.Errorf("%s: packet changed", tc.name)
		}
	}
	trunc := tcp6WithExt(t, vip6, header.IPv6HopByHop)
	trunc[14+header.IPv6Len+1] = 200 // extension longer than the packet
	if p, _ := run(t, w, s, trunc); p.Verdict != DropMalformed {
		t.Errorf("truncated extension header: %v", p.Verdict)
	}
	short := tcp6Frame(t, client6, vip6, 1, 80, 0)
	header.IPv6(short[14:]).SetPayloadLen(2000)
	if p, _ := run(t, w, s, short); p.Verdict != DropMalformed {
		t.Errorf("payload length beyond the frame: %v", p.Verdict)
	}
	sk := v6Snapshot(t, func(c *Config) { c.Kernel = true })
	if p, _ := run(t, w, sk, tcp6Frame(t, client6, own6.Addr(), 1, 22, 0)); p.Verdict != ToKernel {
		t.Errorf("own address with a kernel: %v", p.Verdict)
	}
}

func TestTunnelMethodsIPv6(t *testing.T) {
	s := v6Snapshot(t)
	for _, tc := range []struct {
		vip      netip.Addr
		m        conf.Method
		outerV6  bool
		dst      netip.Addr
		mac      header.MAC
		protocol layers.IPProtocol
	}{
		{vip6IPIP, conf.MethodIPIP, true, remote6, gw6MAC, layers.IPProtocolIPv6},
		{vip6GRE, conf.MethodGRE, true, remote6, gw6MAC, layers.IPProtocolGRE},
		{vip6GUE, conf.MethodGUE, true, remote6, gw6MAC, layers.IPProtocolUDP},
		{vip6GRE4, conf.MethodGRE, false, remote1, gwMAC, layers.IPProtocolGRE},
		{vip4In6, conf.MethodIPIP, true, remote6, gw6MAC, layers.IPProtocolIPv4},
	} {
		w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
		var in []byte
		var inner []byte
		if tc.vip.Is4() {
			in = tcpFrame(t, client, tc.vip, 40000, 80)
			inner = in[14 : 14+int(header.IPv4(in[14:]).TotalLen())]
		} else {
			in = tcp6Frame(t, client6, tc.vip, 40000, 80, 5)
			inner = in[14 : 14+header.IPv6Len+int(header.IPv6(in[14:]).PayloadLen())]
		}
		p, out := run(t, w, s, in)
		if p.Verdict != Forward {
			t.Fatalf("%v: verdict %v", tc.vip, p.Verdict)
		}
		if header.Ethernet(out).Dst() != tc.mac || header.Ethernet(out).Src() != portMAC {
			t.Errorf("%v: MACs", tc.vip)
		}
		pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		if tc.outerV6 {
			outer, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if outer == nil || !outer.SrcIP.Equal(own6.Addr().AsSlice()) || !outer.DstIP.Equal(tc.dst.AsSlice()) || outer.NextHeader != tc.protocol {
				t.Fatalf("%v: outer %v", tc.vip, pkt)
			}
			if tc.m == conf.MethodGUE {
				udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
				seg := out[14+header.IPv6Len:]
				if udp == nil || udp.Checksum == 0 || header.FoldChecksum(header.Checksum(seg, header.PseudoHeaderSum6(own6.Addr().As16(), tc.dst.As16(), header.IPProtoUDP, uint32(len(seg))))) != 0 {
					t.Fatalf("%v: GUE over IPv6 needs a valid UDP checksum", tc.vip)
				}
			}
		} else {
			outer, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if outer == nil || !outer.SrcIP.Equal(own.Addr().AsSlice()) || !outer.DstIP.Equal(tc.dst.AsSlice()) || outer.Protocol != tc.protocol {
				t.Fatalf("%v: outer %v", tc.vip, pkt)
			}
		}
		if len(out) != 14+tc.m.Overhead(tc.outerV6)+len(inner) || !bytes.Equal(out[len(out)-len(inner):], inner) {
			t.Errorf("%v: inner packet changed or wrong overhead", tc.vip)
		}
	}
}

func TestPacketTooBigIPv6(t *testing.T) {
	s := v6Snapshot(t)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
	// 1460 + 40 of ip6ip6 = 1500: fits exactly.
	if p, _ := run(t, w, s, tcp6Frame(t, client6, vip6IPIP, 1, 80, 1460-60)); p.Verdict != Forward {
		t.Fatalf("1460-byte packet: %v", p.Verdict)
	}
	p, out := run(t, w, s, tcp6Frame(t, client6, vip6IPIP, 1, 80, 1461-60))
	if p.Verdict != PacketTooBig || p.OutPort != 0 {
		t.Fatalf("1461-byte packet: %v", p.Verdict)
	}
	pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	ic, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if ip == nil || ic == nil || ic.TypeCode.Type() != header.ICMPv6PacketTooBig || !ip.SrcIP.Equal(own6.Addr().AsSlice()) ||
		!ip.DstIP.Equal(client6.AsSlice()) || !icmp6Verifies(out) {
		t.Fatalf("not the Packet Too Big expected: %v", pkt)
	}
	if mtu := header.ICMPv6(out[14+header.IPv6Len:]).MTU(); mtu != 1460 {
		t.Fatalf("MTU %d, want 1460", mtu)
	}
	// GUE over IPv6 costs 48 bytes.
	if p, _ := run(t, w, s, tcp6Frame(t, client6, vip6GUE, 1, 80, 1453-60)); p.Verdict != PacketTooBig {
		t.Fatalf("1453-byte packet over GUE/IPv6: %v", p.Verdict)
	}
}

func TestBuildIPv6Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"IPv6 VIP without own IPv6 address", func(c *Config) { c.Own6 = netip.Prefix{} }},
		{"dscp with an IPv6 VIP", func(c *Config) { c.Services[1].Method = conf.MethodDSCP; c.Services[1].DSCP = 5 }},
		{"dscp with an IPv6 real server", func(c *Config) {
			c.Services[5].Method = conf.MethodDSCP
			c.Services[5].DSCP = 5
		}},
		{"l2dsr across families", func(c *Config) { c.Services[0].Backends[0].Addr = rs1 }},
		{"l2dsr real server behind the gateway", func(c *Config) { c.Services[0].Backends[0].Addr = remote6 }},
		{"ipip of IPv6 inside IPv4", func(c *Config) { c.Services[4].Method = conf.MethodIPIP }},
		{"IPv6 real server unreachable", func(c *Config) { c.Gateway6 = netip.Addr{} }},
	} {
		cfg := v6Config()
		tc.mod(cfg)
		if _, _, err := Build(cfg, v6Neighbors, nil, nil); err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

func TestIPv6AllocatesNothing(t *testing.T) {
	s := v6Snapshot(t)
	clock := new(Clock)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 10, Clock: clock})
	frames := [][]byte{
		tcp6Frame(t, client6, vip6, 1, 80, 5), tcp6Frame(t, client6, vip6IPIP, 2, 80, 5),
		tcp6Frame(t, client6, vip6GUE, 3, 80, 5), tcp6Frame(t, client6, vip6IPIP, 4, 80, 1500-60),
		ndpFrame(t, header.ICMPv6NeighborSolicit, clientMAC, client6, netip.AddrFrom16(header.SolicitedNode6(vip6.As16())), vip6, header.NDPOptSourceLinkLayer, 255),
		ndpFrame(t, header.ICMPv6NeighborAdvert, rs1MAC, rs6c, own6.Addr(), rs6c, header.NDPOptTargetLinkLayer, 255),
		echo6Frame(t, client6, vip6),
		tcp6WithExt(t, vip6, header.IPv6HopByHop),
	}
	want := []Verdict{Forward, Forward, Forward, PacketTooBig, NDPReply, NDPLearned, EchoReply, Forward}
	pk := make([]Packet, len(frames))
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = make([]byte, 128+len(f)+64)
	}
	sec := uint32(0)
	allocs := testing.AllocsPerRun(1000, func() {
		for i, f := range frames {
			copy(bufs[i][128:], f)
			pk[i] = Packet{Buf: bufs[i], Off: 128, Len: len(f)}
		}
		sec++
		clock.Set(sec) // a fresh ICMP error budget each burst
		w.Process(s, 0, pk)
		w.Learn.Pop()
	})
	if allocs != 0 {
		t.Fatalf("IPv6 paths allocate %.1f times per burst", allocs)
	}
	for i := range pk {
		if pk[i].Verdict != want[i] {
			t.Errorf("packet %d: %v, want %v", i, pk[i].Verdict, want[i])
		}
	}
}

func TestFlowHash6(t *testing.T) {
	a, b := split6(client6.As16())
	c, d := split6(vip6.As16())
	h := FlowHash6(a, b, c, d, 1, 80, 6)
	if h == FlowHash6(a, b, c, d, 2, 80, 6) || h == FlowHash6(a, b^1, c, d, 1, 80, 6) || h == FlowHash6(a, b, c, d, 1, 80, 17) {
		t.Fatal("flow hash ignores a field")
	}
	if SourceHash6(a, b) == SourceHash6(a, b^1<<40) {
		t.Fatal("source hash ignores bits")
	}
}

func FuzzProcess6(f *testing.F) {
	s := v6Snapshot(f, func(c *Config) { c.Kernel = true })
	f.Add(tcp6Frame(f, client6, vip6, 1, 80, 5))
	f.Add(tcp6Frame(f, client6, vip6GUE, 1, 80, 5))
	f.Add(echo6Frame(f, client6, vip6))
	f.Add(ndpFrame(f, header.ICMPv6NeighborSolicit, clientMAC, client6, netip.AddrFrom16(header.SolicitedNode6(vip6.As16())), vip6, header.NDPOptSourceLinkLayer, 255))
	f.Add(ndpFrame(f, header.ICMPv6NeighborAdvert, rs1MAC, rs6c, own6.Addr(), rs6c, header.NDPOptTargetLinkLayer, 255))
	f.Add(tcp6WithExt(f, vip6, header.IPv6HopByHop, header.IPv6Routing))
	w := NewWorker(0)
	f.Fuzz(func(t *testing.T, frame []byte) {
		// Headroom for tunnels and ICMPv6 errors, tailroom for NDP replies.
		buf := make([]byte, 128+len(frame)+128)
		copy(buf[128:], frame)
		pk := []Packet{{Buf: buf, Off: 128, Len: len(frame)}}
		w.Process(s, 0, pk)
		p := pk[0]
		if p.Verdict >= NumVerdicts {
			t.Fatalf("verdict %d", p.Verdict)
		}
		if p.Off < 0 || p.Len < 0 || p.Off+p.Len > len(buf) {
			t.Fatalf("frame %d+%d outside the %d-byte buffer", p.Off, p.Len, len(buf))
		}
		w.Learn.Pop()
	})
}
