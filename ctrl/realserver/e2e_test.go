//go:build e2e

package realserver

import (
	"dsrlb/conf"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tunnelCase is one outer/inner combination of a tunnel method.
type tunnelCase struct {
	name          string
	outerDst, vip netip.Addr
}

func (c tunnelCase) probe(m conf.Method) probe {
	outerSrc, client := lb4, client4
	if c.outerDst.Is6() {
		outerSrc = lb6
	}
	if c.vip.Is6() {
		client = client6
	}
	return probe{encap: m, outerSrc: outerSrc, outerDst: c.outerDst, guePort: DefaultGUEPort,
		src: client, dst: c.vip, sport: nextPort(), dport: vipPort}
}

var (
	in4over4 = tunnelCase{"4in4", self4, vip4}
	in6over6 = tunnelCase{"6in6", self6, vip6}
	in4over6 = tunnelCase{"4in6", self6, vip4}
	in6over4 = tunnelCase{"6in4", self4, vip6}
)

// tunnelBed applies the eBPF decap plan of method m with IPv4 and IPv6
// VIPs and own addresses, and listens on the VIPs.
func tunnelBed(t *testing.T, m conf.Method, object string, clamp bool) *bed {
	b := newBed(t)
	b.apply(Spec{Method: m, VIPs: []netip.Addr{vip4, vip6}, Interface: rsIf,
		Self: []netip.Addr{self4, self6}, Decap: DecapEBPF, BPFObject: object, ClampMSS: clamp})
	b.listen(vip4, vip6)
	return b
}

// checkTunnel sends the SYN of every case encapsulated as m and expects
// the SYN-ACK from the VIP, not encapsulated, at the balancer side.
func checkTunnel(t *testing.T, b *bed, m conf.Method, cases ...tunnelCase) {
	for _, c := range cases {
		b.run(t, m.String()+" "+c.name, func(t *testing.T) {
			p := c.probe(m)
			pkt := b.expectSynAck(p)
			if pkt.Layer(layers.LayerTypeGRE) != nil || pkt.Layer(layers.LayerTypeUDP) != nil {
				t.Errorf("the reply is encapsulated:\n%s", pkt.Dump())
			}
		})
	}
}

// checkPassThrough: what is not dsrlb's format, or not addressed to a
// configured own address, reaches the stack untouched.
func checkPassThrough(t *testing.T, b *bed, m conf.Method) {
	b.run(t, "plain traffic to the server", func(t *testing.T) {
		for _, dst := range []netip.Addr{self4, self6} {
			client := client4
			if dst.Is6() {
				client = client6
			}
			p := probe{src: client, dst: dst, sport: nextPort(), dport: 9}
			b.send(b.frame(p))
			if _, ok := b.await(waitYes, tcpReply(p, dst, false), nil); !ok {
				t.Errorf("no RST from %s for a plain SYN to port 9", dst)
			}
		}
	})
	b.run(t, "outer destination not configured", func(t *testing.T) {
		for _, c := range []tunnelCase{{"4", other4, vip4}, {"6", other6, vip6}} {
			b.expectSilence(c.probe(m))
		}
	})
	switch m {
	case conf.MethodIPIP:
		b.run(t, "IPv6 in IPv4 is not a format", func(t *testing.T) {
			b.expectSilence(in6over4.probe(conf.MethodIPIP))
		})
	case conf.MethodGRE:
		b.run(t, "GRE with a key is not the format", func(t *testing.T) {
			p := in4over4.probe(conf.MethodGRE)
			p.greKey = true
			b.expectSilence(p)
		})
	case conf.MethodGUE:
		b.run(t, "another UDP port", func(t *testing.T) {
			p := in4over4.probe(conf.MethodGUE)
			p.guePort = DefaultGUEPort + 1
			b.expectSilence(p)
		})
	}
	b.run(t, "another method to a configured address", func(t *testing.T) {
		other := conf.MethodGRE
		if m == conf.MethodGRE {
			other = conf.MethodGUE
		}
		b.expectSilence(in4over4.probe(other))
	})
}

func TestE2EIPIP(t *testing.T) {
	b := tunnelBed(t, conf.MethodIPIP, objects.normal, true)
	checkTunnel(t, b, conf.MethodIPIP, in4over4, in6over6, in4over6)
	checkPassThrough(t, b, conf.MethodIPIP)

	b.run(t, "MSS clamped", func(t *testing.T) {
		// Self has IPv6: the 40-byte outer header counts.
		want4, want6 := ClampedMSS(b.spec, HostInfo{MTU: 1500})
		if want4 != 1420 || want6 != 1400 {
			t.Fatalf("ClampedMSS = %d, %d", want4, want6)
		}
		for _, c := range []tunnelCase{in4over4, in6over6} {
			pkt := b.expectSynAck(c.probe(conf.MethodIPIP))
			want := want4
			if c.vip.Is6() {
				want = want6
			}
			if got := mssOption(pkt); got != want {
				t.Errorf("%s: SYN-ACK MSS %d, want %d", c.name, got, want)
			}
		}
	})

	b.run(t, "ECN", func(t *testing.T) {
		b.nftScript(`table inet dsrlbtest_ecn {
	counter ce4 { }
	counter ce6 { }
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ip daddr ` + vip4.String() + ` ip ecn ce counter name ce4
		ip6 daddr ` + vip6.String() + ` ip6 ecn ce counter name ce6
	}
}
`)
		const ect0, ce = 2, 3
		before := b.decapStats()
		// CE on the outer header is copied into an ECN-capable inner one.
		p := in4over4.probe(conf.MethodIPIP)
		p.outerTOS, p.tos = ce, ect0
		b.expectSynAck(p)
		p = in6over6.probe(conf.MethodIPIP)
		p.outerTOS, p.tos = ce, ect0
		b.expectSynAck(p)
		if n4, n6 := b.nftCounter("dsrlbtest_ecn", "ce4"), b.nftCounter("dsrlbtest_ecn", "ce6"); n4 != 1 || n6 != 1 {
			t.Errorf("inner packets marked CE: %d IPv4, %d IPv6; want 1, 1", n4, n6)
		}
		// CE around a not-ECT packet: dropped (RFC 6040).
		p = in4over4.probe(conf.MethodIPIP)
		p.outerTOS = ce
		b.expectSilence(p)
		after := b.decapStats()
		if d := after[0] - before[0]; d < 2 {
			t.Errorf("decapsulated counter went up by %d, want at least 2", d)
		}
		if d := after[1] - before[1]; d < 1 {
			t.Errorf("ECN drop counter went up by %d, want at least 1", d)
		}
		if after[2] != before[2] {
			t.Errorf("failure counter went up by %d", after[2]-before[2])
		}
	})
}

func TestE2EGRE(t *testing.T) {
	b := tunnelBed(t, conf.MethodGRE, objects.normal, false)
	checkTunnel(t, b, conf.MethodGRE, in4over4, in6over6, in4over6, in6over4)
	checkPassThrough(t, b, conf.MethodGRE)

	b.run(t, "teardown", func(t *testing.T) {
		b.teardown()
		if out := b.rsRun("tc", "filter", "show", "dev", rsIf, "ingress"); strings.TrimSpace(out) != "" {
			t.Errorf("filters left after teardown:\n%s", out)
		}
		if out := b.rsRun("ip", "addr", "show", "dev", "lo"); strings.Contains(out, vip4.String()) || strings.Contains(out, vip6.String()) {
			t.Errorf("VIPs left on lo:\n%s", out)
		}
		b.expectSilence(in4over4.probe(conf.MethodGRE))
		// A second teardown finds everything gone and still succeeds.
		b.teardown()
	})
}

func TestE2EGUE(t *testing.T) {
	b := tunnelBed(t, conf.MethodGUE, objects.normal, false)
	checkTunnel(t, b, conf.MethodGUE, in4over4, in6over6, in4over6, in6over4)
	checkPassThrough(t, b, conf.MethodGUE)
	b.run(t, "applied twice", func(t *testing.T) {
		b.apply(b.spec)
		out := b.rsRun("tc", "filter", "show", "dev", rsIf, "ingress")
		if n := strings.Count(out, "dsrlb_decap"); n != 1 {
			t.Errorf("%d decap filters after a second apply:\n%s", n, out)
		}
		checkTunnel(t, b, conf.MethodGUE, in4over4)
	})
}

// TestE2ECompat runs the cross-family decapsulations through the path for
// kernels before 6.3 (bpf_skb_change_proto, then adjust_room).
func TestE2ECompat(t *testing.T) {
	b := tunnelBed(t, conf.MethodGUE, objects.compat, false)
	checkTunnel(t, b, conf.MethodGUE, in4over6, in6over4, in4over4, in6over6)
	b2 := tunnelBed(t, conf.MethodIPIP, objects.compat, false)
	checkTunnel(t, b2, conf.MethodIPIP, in4over6)
}

func TestE2EDSCP(t *testing.T) {
	b := newBed(t)
	b.apply(Spec{Method: conf.MethodDSCP, VIPs: []netip.Addr{vip4, vip4b}, Interface: rsIf, Self: []netip.Addr{self4},
		DSCP: map[netip.Addr]uint8{vip4: 10, vip4b: 11}})
	b.listen(vip4, vip4b)
	b.nftScript(`table inet dsrlbtest_ct {
	counter untracked_in { }
	counter tracked_in { }
	counter untracked_out { }
	counter ect0 { }
	chain in {
		type filter hook input priority 0; policy accept;
		ip daddr { ` + vip4.String() + `, ` + vip4b.String() + ` } ct state untracked counter name untracked_in
		ip daddr { ` + vip4.String() + `, ` + vip4b.String() + ` } ct state new,established,related,invalid counter name tracked_in
		ip daddr ` + vip4.String() + ` ip dscp 0 ip ecn ect0 counter name ect0
	}
	chain out {
		type filter hook output priority 0; policy accept;
		tcp sport 80 ip saddr { ` + vip4.String() + `, ` + vip4b.String() + ` } ct state untracked counter name untracked_out
	}
}
`)
	for _, c := range []struct {
		vip  netip.Addr
		dscp uint8
		ecn  uint8
	}{{vip4, 10, 0}, {vip4b, 11, 0}, {vip4, 10, 2}} {
		// What the balancer sends: destination rewritten to the server,
		// DSCP naming the VIP.
		p := probe{src: client4, dst: self4, sport: nextPort(), dport: vipPort, tos: c.dscp<<2 | c.ecn}
		b.send(b.frame(p))
		pkt, ok := b.await(waitYes, tcpReply(p, c.vip, true), nil)
		if !ok {
			t.Fatalf("no SYN-ACK from %s for DSCP %d", c.vip, c.dscp)
		}
		if tc := trafficClass(pkt); tc>>2 != 0 {
			t.Errorf("SYN-ACK from %s has DSCP %d, want 0", c.vip, tc>>2)
		}
	}
	// A code no VIP has: the packet stays addressed to the server, which
	// has no listener on port 80 there.
	p := probe{src: client4, dst: self4, sport: nextPort(), dport: vipPort, tos: 12 << 2}
	b.send(b.frame(p))
	if _, ok := b.await(waitYes, tcpReply(p, self4, false), nil); !ok {
		t.Errorf("DSCP 12 (no VIP): no RST from %s", self4)
	}

	if n := b.nftCounter("dsrlbtest_ct", "untracked_in"); n != 3 {
		t.Errorf("%d untracked SYNs reached the VIPs, want 3", n)
	}
	if n := b.nftCounter("dsrlbtest_ct", "tracked_in"); n != 0 {
		t.Errorf("%d packets to the VIPs went through conntrack, want 0", n)
	}
	if n := b.nftCounter("dsrlbtest_ct", "untracked_out"); n < 3 {
		t.Errorf("%d untracked SYN-ACKs left, want at least 3", n)
	}
	if n := b.nftCounter("dsrlbtest_ct", "ect0"); n != 1 {
		t.Errorf("ECN kept through the DSCP rewrite: %d, want 1", n)
	}
}

func TestE2EL2DSR(t *testing.T) {
	b := newBed(t)
	b.apply(Spec{Method: conf.MethodL2DSR, VIPs: []netip.Addr{vip4, vip6}, Interface: rsIf})
	b.listen(vip4, vip6)
	// The server must resolve its gateway again, so its ARP request's
	// source address is chosen under arp_announce.
	b.rsRun("ip", "neigh", "flush", "all")

	var rsARP []netip.Addr
	seen := func(pkt gopacket.Packet) {
		if arp, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok && arp.Operation == layers.ARPRequest &&
			string(arp.SourceHwAddress) == string(b.rsMAC) {
			a, _ := netip.AddrFromSlice(arp.SourceProtAddress)
			rsARP = append(rsARP, a)
		}
	}
	for _, c := range []struct {
		vip, client netip.Addr
	}{{vip4, client4}, {vip6, client6}} {
		p := probe{src: c.client, dst: c.vip, sport: nextPort(), dport: vipPort}
		b.send(b.frame(p))
		if _, ok := b.await(waitYes, tcpReply(p, c.vip, true), seen); !ok {
			t.Fatalf("no SYN-ACK from %s", c.vip)
		}
	}
	if len(rsARP) == 0 {
		t.Error("the real server sent no ARP request for its gateway")
	}
	for _, a := range rsARP {
		if a != self4 && a != other4 {
			t.Errorf("the real server's ARP request has source %s, want its own address", a)
		}
	}

	answers := func(target netip.Addr) bool {
		b.send(b.arpFrame(target))
		_, ok := b.await(waitNo, func(pkt gopacket.Packet) bool {
			if arp, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
				a, _ := netip.AddrFromSlice(arp.SourceProtAddress)
				return arp.Operation == layers.ARPReply && a == target
			}
			if na, ok := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement); ok {
				a, _ := netip.AddrFromSlice(na.TargetAddress)
				return a == target
			}
			return false
		}, nil)
		return ok
	}
	// The server's own addresses are answered (the test can see answers),
	// the VIPs are not.
	for _, c := range []struct {
		target netip.Addr
		want   bool
	}{{self4, true}, {vip4, false}, {self6, true}, {vip6, false}} {
		if got := answers(c.target); got != c.want {
			t.Errorf("who has %s: answered %v, want %v", c.target, got, c.want)
		}
	}
}
