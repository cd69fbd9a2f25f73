package pipeline

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/conf"
	"dsrlb/pipeline/header"
)

// probeConfig is l3Config with probes on three services: the l2dsr
// service "mix" probes rs1 (whose own method is ipip) and rs2 (l2dsr), the
// dscp service its remote real server, and the gue service its remote
// one and rs3, whose MAC is never known.
func probeConfig() *Config {
	c := l3Config()
	for i := range c.Services {
		s := &c.Services[i]
		switch s.Name {
		case "mix":
			s.Backends = append(s.Backends, BackendConfig{Addr: rs2, Weight: 1})
			s.Probes = []ProbeConfig{{Addr: rs1, Method: conf.MethodIPIP, Port: 61000}, {Addr: rs2, Port: 61001}}
		case "dscp":
			s.Probes = []ProbeConfig{{Addr: remote1, Port: 61002}}
		case "gue":
			s.Probes = []ProbeConfig{{Addr: remote1, Port: 61003}, {Addr: rs3, Method: conf.MethodGUE, Port: 61004}}
		}
	}
	return c
}

func probeNeighbors(ip netip.Addr) (Neighbor, bool) {
	if ip == rs2 {
		return Neighbor{MAC: rs2MAC}, true
	}
	return l3Neighbors(ip)
}

// kernelFrame is a TCP SYN the balancer's kernel sends from its own
// address.
func kernelFrame(t testing.TB, dst netip.Addr, sport uint16) []byte {
	return tcpFrame(t, own.Addr(), dst, sport, 80)
}

// probe runs Probe over frame with headroom and returns the result and
// the frame as it would leave.
func probe(t testing.TB, w *Worker, s *Snapshot, frame []byte) (ProbeResult, Packet, []byte) {
	t.Helper()
	buf := make([]byte, 128+len(frame)+64)
	copy(buf[128:], frame)
	p := Packet{Buf: buf, Off: 128, Len: len(frame)}
	r := w.Probe(s, &p)
	return r, p, buf[p.Off : p.Off+p.Len]
}

func TestProbeSteersToItsRealServer(t *testing.T) {
	s, _, err := Build(probeConfig(), probeNeighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})

	// l2dsr: the frame unchanged but for the MACs, to rs2 only, however
	// often (no scheduling: Maglev would spread these ports).
	in := kernelFrame(t, vipMix, 61001)
	for range 3 {
		r, p, out := probe(t, w, s, in)
		if r != ProbeSent || p.OutPort != 0 {
			t.Fatalf("l2dsr probe: %v on port %d", r, p.OutPort)
		}
		if e := header.Ethernet(out); e.Dst() != rs2MAC || e.Src() != portMAC || !bytes.Equal(out[12:], in[12:]) {
			t.Fatalf("l2dsr probe: to %v from %v, rest changed %v", e.Dst(), e.Src(), !bytes.Equal(out[12:], in[12:]))
		}
	}
	// The per-server method of rs1 (ipip) applies to its probe.
	_, _, out := probe(t, w, s, kernelFrame(t, vipMix, 61000))
	pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.NoCopy)
	outer, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if outer == nil || outer.Protocol != layers.IPProtocolIPv4 || !outer.DstIP.Equal(rs1.AsSlice()) || !outer.SrcIP.Equal(own.Addr().AsSlice()) {
		t.Fatalf("ipip probe: outer %v", outer)
	}
	if header.Ethernet(out).Dst() != rs1MAC {
		t.Fatalf("ipip probe to %v", header.Ethernet(out).Dst())
	}
	// dscp: the real server's address and the VIP's code.
	_, _, out = probe(t, w, s, kernelFrame(t, vipDSCP, 61002))
	ip := header.IPv4(out[14:])
	if netip.AddrFrom4(ip.Dst()) != remote1 || ip.DSCP() != 10 || !ip.ChecksumValid() || header.Ethernet(out).Dst() != gwMAC {
		t.Fatalf("dscp probe: to %v dscp %d via %v", netip.AddrFrom4(ip.Dst()), ip.DSCP(), header.Ethernet(out).Dst())
	}
	// gue: UDP to the GUE port of the remote real server.
	_, _, out = probe(t, w, s, kernelFrame(t, vipGUE, 61003))
	pkt = gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.NoCopy)
	udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if udp == nil || udp.DstPort != 6080 {
		t.Fatalf("gue probe: %v", pkt)
	}
	// A probe whose real server's MAC is unknown is dropped and counted.
	if r, _, _ := probe(t, w, s, kernelFrame(t, vipGUE, 61004)); r != ProbeDropped {
		t.Fatalf("unresolved probe: %v", r)
	}
	w.Publish()
	if c := w.Shared.Load(); c.Probes != 6 || c.ProbeDrops != 1 {
		t.Fatalf("probes %d drops %d, want 6 and 1", c.Probes, c.ProbeDrops)
	}
}

func TestProbeLeavesOtherKernelPacketsAlone(t *testing.T) {
	s, _, err := Build(probeConfig(), probeNeighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
	for name, frame := range map[string][]byte{
		"a port no probe uses":            kernelFrame(t, vipMix, 61005),
		"a probe port of another service": kernelFrame(t, vipMix, 61002),
		"not from the own address":        tcpFrame(t, client, vipMix, 61001, 80),
		"to a real server's address":      kernelFrame(t, rs2, 61001),
		"to another port of the VIP":      tcpFrame(t, own.Addr(), vipMix, 61001, 81),
		"UDP to the VIP":                  udpFrame(t, own.Addr(), vipMix, 61001, 80),
		"ARP":                             arpFrame(t, header.ARPRequest, portMAC, own.Addr(), rs2, 0),
		"a health check of a real server": tcpFrame(t, own.Addr(), rs2, 40000, 80),
		"a truncated frame":               kernelFrame(t, vipMix, 61001)[:30],
		"an ICMP echo to the VIP":         icmpFrame(t, own.Addr(), vipMix, 8),
		"an IPv6 packet without address6": tcp6Frame(t, netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::100"), 61001, 80, 0),
	} {
		r, p, out := probe(t, w, s, frame)
		if r != NotProbe || !bytes.Equal(out, frame) || p.Len != len(frame) {
			t.Errorf("%s: %v, frame changed %v", name, r, !bytes.Equal(out, frame))
		}
	}
}

func TestProbeIPv6(t *testing.T) {
	s := v6Snapshot(t, func(c *Config) {
		for i := range c.Services {
			switch c.Services[i].Name {
			case "web6":
				c.Services[i].Probes = []ProbeConfig{{Addr: rs6b, Port: 61000}}
			case "gue6":
				c.Services[i].Probes = []ProbeConfig{{Addr: remote6, Port: 61001}}
			}
		}
	})
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
	r, _, out := probe(t, w, s, tcp6Frame(t, own6.Addr(), vip6, 61000, 80, 0))
	if r != ProbeSent || header.Ethernet(out).Dst() != rs2MAC {
		t.Fatalf("l2dsr IPv6 probe: %v to %v", r, header.Ethernet(out).Dst())
	}
	r, _, out = probe(t, w, s, tcp6Frame(t, own6.Addr(), vip6GUE, 61001, 80, 0))
	pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.NoCopy)
	outer, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if r != ProbeSent || outer == nil || !outer.DstIP.Equal(remote6.AsSlice()) || !outer.SrcIP.Equal(own6.Addr().AsSlice()) {
		t.Fatalf("gue6 probe: %v outer %v", r, outer)
	}
	if r, _, _ := probe(t, w, s, tcp6Frame(t, client6, vip6, 61000, 80, 0)); r != NotProbe {
		t.Fatalf("a client's IPv6 packet: %v", r)
	}
}

func TestProbeBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		mod  func(c *Config)
		want string
	}{
		{func(c *Config) {
			c.Services[4].Probes = []ProbeConfig{{Addr: rs1, Port: 61000}, {Addr: rs2, Port: 61000}}
		}, "already"},
		{func(c *Config) {
			c.Services[4].Probes = []ProbeConfig{{Addr: rs1, Port: 61000}}
			c.Services[0].Probes = []ProbeConfig{{Addr: remote1, Port: 61000}}
		}, "already"},
		{func(c *Config) { c.Services[4].Probes = []ProbeConfig{{Addr: rs1}} }, "without a source port"},
		{func(c *Config) { c.Services[4].Probes = []ProbeConfig{{Addr: remote1, Port: 61000}} }, "not on-link"},
	} {
		c := probeConfig()
		for i := range c.Services {
			c.Services[i].Probes = nil
		}
		tc.mod(c)
		if _, _, err := Build(c, probeNeighbors, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error with %q, got %v", tc.want, err)
		}
	}
	// Probed real servers are resolved like the others, also when they
	// take no flows.
	c := probeConfig()
	c.Services[4].Backends = nil
	found := false
	for _, h := range c.NextHops() {
		found = found || h == rs2
	}
	if !found {
		t.Fatal("a probed real server that is no backend is not resolved")
	}
}

func TestKernelNeighbor(t *testing.T) {
	s := v6Snapshot(t)
	mac := s.KernelVIPMAC()
	if mac == portMAC || mac.IsMulticast() {
		t.Fatalf("kernel VIP MAC %v", mac)
	}
	kernelMAC := portMAC // the TAP has the first port's MAC
	buf := make([]byte, 256)
	frame := arpFrame(t, header.ARPRequest, kernelMAC, own.Addr(), vip4In6, 0)
	copy(buf, frame)
	n, ok := s.KernelNeighbor(buf, 0, len(frame))
	if !ok {
		t.Fatal("the kernel's ARP request for a VIP is not answered")
	}
	a := header.ARP(buf[14:n])
	if a.Op() != header.ARPReply || a.SenderMAC() != mac || netip.AddrFrom4(a.SenderIP()) != vip4In6 || netip.AddrFrom4(a.TargetIP()) != own.Addr() ||
		header.Ethernet(buf).Dst() != kernelMAC {
		t.Fatalf("ARP reply %x", buf[:n])
	}
	for name, f := range map[string][]byte{
		"ARP for a real server": arpFrame(t, header.ARPRequest, kernelMAC, own.Addr(), rs1, 0),
		"an ARP reply":          arpFrame(t, header.ARPReply, kernelMAC, own.Addr(), vip4In6, 0),
		"a TCP packet":          kernelFrame(t, vipMix, 61000),
		"NS for a real server":  ndpFrame(t, header.ICMPv6NeighborSolicit, kernelMAC, own6.Addr(), netip.AddrFrom16(header.SolicitedNode6(rs6a.As16())), rs6a, header.NDPOptSourceLinkLayer, 255),
	} {
		copy(buf, f)
		if _, ok := s.KernelNeighbor(buf, 0, len(f)); ok {
			t.Errorf("%s answered", name)
		}
	}
	ns := ndpFrame(t, header.ICMPv6NeighborSolicit, kernelMAC, own6.Addr(), netip.AddrFrom16(header.SolicitedNode6(vip6.As16())), vip6, header.NDPOptSourceLinkLayer, 255)
	copy(buf, ns)
	n, ok = s.KernelNeighbor(buf, 0, len(ns))
	if !ok {
		t.Fatal("the kernel's neighbour solicitation for a VIP is not answered")
	}
	pkt := gopacket.NewPacket(buf[:n], layers.LayerTypeEthernet, gopacket.NoCopy)
	na, _ := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if na == nil || ip == nil || !na.TargetAddress.Equal(vip6.AsSlice()) || !ip.DstIP.Equal(own6.Addr().AsSlice()) || !icmp6Verifies(buf[:n]) {
		t.Fatalf("NA %v", pkt)
	}
	if len(na.Options) != 1 || !bytes.Equal(na.Options[0].Data, mac[:]) {
		t.Fatalf("NA options %v", na.Options)
	}
}

func TestProbeAllocatesNothing(t *testing.T) {
	s, _, err := Build(probeConfig(), probeNeighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 64})
	frames := [][]byte{kernelFrame(t, vipMix, 61001), kernelFrame(t, vipGUE, 61003), kernelFrame(t, vipMix, 61005)}
	buf := make([]byte, 2048)
	var p Packet
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			copy(buf[128:], f)
			p = Packet{Buf: buf, Off: 128, Len: len(f)}
			w.Probe(s, &p)
			n, _ := s.KernelNeighbor(buf, 128, len(f))
			_ = n
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}
