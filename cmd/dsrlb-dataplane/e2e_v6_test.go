//go:build e2e

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/hw/testbed"
)

// End-to-end tests of IPv6: NDP, ICMPv6 echo and l2dsr on one segment;
// IPv6 tunnels through a router to real servers set up by dsrlbctl
// realserver.

// unowned6 is an address of the L2 topology's /64 that nobody holds.
var unowned6 = netip.MustParseAddr("2001:db8::99")

// TestIPv6L2DSR: an IPv6 VIP with method l2dsr. The balancer answers
// neighbour solicitations for the VIP (the real servers, which hold it on
// lo, stay silent) and echo requests to it, resolves the real servers by
// NDP and spreads requests over them; replies go from the real servers
// straight to the client. It does not answer for addresses it does not own.
func TestIPv6L2DSR(t *testing.T) {
	topo := newL2(t, 2)
	if err := topo.EnableIPv6(); err != nil {
		t.Fatal(err)
	}
	topo.ServiceIPv6 = true
	v6 := topo.IPv6
	startServers6(t, topo.Bed, v6)
	startDataplane(t, topo)
	lbMAC := macOf(t, topo.Bed, testbed.RoleLB)
	rsMACs := map[string]string{} // MAC -> real server
	for i := range v6.Servers {
		rsMACs[macOf(t, topo.Bed, testbed.ServerRole(i)).String()] = testbed.ServerRole(i)
	}

	t.Run("NA for the VIP from the balancer only, ping answered", func(t *testing.T) {
		// The client forgets its neighbours and solicits the VIP again
		// (ping does). Every advertisement for the VIP must carry the
		// balancer's MAC: the real servers hold the VIP on lo but must
		// stay silent.
		if err := topo.IP(testbed.RoleClient, "-6", "neigh", "flush", "all"); err != nil {
			t.Fatal(err)
		}
		c := capture(t, topo, testbed.RoleClient, "client-nd", "icmp6")
		out, err := topo.Exec(20*time.Second, testbed.RoleClient, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", v6.VIP.String())
		if err != nil {
			t.Fatalf("ping -6 VIP: %v\n%s", err, out)
		}
		if !strings.Contains(out, "3 received") {
			t.Errorf("ping -6 VIP lost echo replies:\n%s", out)
		}
		pkts := packets(t, c)
		nas := 0 // advertisements telling the client the balancer's MAC
		for _, na := range advertisements(pkts, v6.VIP) {
			// The target link-layer address may be left out only in answers
			// to unicast solicitations (RFC 4861 7.2.4).
			if !bytes.Equal(na.from, lbMAC) || (na.tlla != nil && !bytes.Equal(na.tlla, lbMAC)) {
				t.Errorf("NA for the VIP from %v (target link-layer address %v; %s), not the balancer (%v)",
					na.from, na.tlla, rsMACs[na.from.String()], lbMAC)
			} else if na.tlla != nil {
				nas++
			}
		}
		if nas == 0 {
			t.Fatalf("no NA for the VIP with the balancer's MAC seen at the client:\n%s", c.Dump("-e"))
		}
		echoes := 0
		for _, p := range pkts {
			ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if ip == nil || icmp == nil || eth == nil || icmp.TypeCode.Type() != layers.ICMPv6TypeEchoReply {
				continue
			}
			echoes++
			if !ip.SrcIP.Equal(v6.VIP.AsSlice()) || !bytes.Equal(eth.SrcMAC, lbMAC) {
				t.Errorf("echo reply from %v (MAC %v), want the VIP from the balancer (%v)", ip.SrcIP, eth.SrcMAC, lbMAC)
			}
		}
		if echoes != 3 {
			t.Errorf("%d echo replies captured at the client, want 3:\n%s", echoes, c.Dump("-e"))
		}
		t.Logf("%d NAs for the VIP, all from the balancer %v; %d echo replies from it; ping: %s", nas, lbMAC, echoes, pingSummary(out))
	})

	t.Run("200 requests spread, replies bypass the balancer", func(t *testing.T) {
		lbCap := capture(t, topo, testbed.RoleLB, "lb6", "ip6 and tcp port 80")
		clientCap := capture(t, topo, testbed.RoleClient, "client6", "ip6 and tcp port 80")
		count := requests(t, topo.Bed, 200, v6.VIP)
		for _, rs := range []string{"rs1", "rs2"} {
			if count[rs] < 70 || count[rs] > 130 {
				t.Errorf("%s answered %d of 200, want 35-65%%", rs, count[rs])
			}
		}
		// tcpdump on the balancer's port sees what arrives there only
		// (af_packet transmits past packet taps): the client's packets, and
		// replies if a real server sent them to the balancer.
		toVIP, fromVIP := flows6(packets(t, lbCap), v6.Client, v6.VIP)
		t.Logf("capture on the balancer's port: %d client->VIP packets, %d VIP->client packets", toVIP, fromVIP)
		if toVIP < 200*5 {
			t.Errorf("only %d client->VIP packets seen at the balancer", toVIP)
		}
		if fromVIP != 0 {
			t.Errorf("%d VIP->client packets reached the balancer; DSR replies must bypass it", fromVIP)
		}
		// At the client, every reply comes from a real server's MAC.
		byMAC := map[string]int{}
		for _, p := range packets(t, clientCap) {
			ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if ip == nil || eth == nil || !ip.SrcIP.Equal(v6.VIP.AsSlice()) {
				continue
			}
			rs, ok := rsMACs[eth.SrcMAC.String()]
			if !ok {
				t.Fatalf("reply from the VIP with source MAC %v, no real server's (balancer %v)", eth.SrcMAC, lbMAC)
			}
			byMAC[rs]++
		}
		t.Logf("replies from the VIP at the client by sending real server: %v", byMAC)
		if byMAC["rs1"] == 0 || byMAC["rs2"] == 0 {
			t.Errorf("replies at the client do not come from both real servers: %v", byMAC)
		}
	})

	t.Run("no NA for an address the balancer does not own", func(t *testing.T) {
		c := capture(t, topo, testbed.RoleClient, "client-unowned", "icmp6")
		out, err := topo.Exec(20*time.Second, testbed.RoleClient, "ping", "-6", "-c", "2", "-W", "1", unowned6.String())
		if err == nil || strings.Contains(out, "bytes from") {
			t.Errorf("ping -6 %s (nobody's address) answered: %v\n%s", unowned6, err, out)
		}
		pkts := packets(t, c)
		solicited := 0
		for _, p := range pkts {
			ns, _ := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
			if ns != nil && ns.TargetAddress.Equal(unowned6.AsSlice()) {
				solicited++
			}
		}
		if solicited == 0 {
			t.Fatalf("the client never solicited %s; the check proves nothing:\n%s", unowned6, c.Dump("-e"))
		}
		for _, na := range advertisements(pkts, unowned6) {
			t.Errorf("NA for %s (nobody's address) from %v", unowned6, na.from)
		}
		t.Logf("%d solicitations for %s, no advertisement; ping: %s", solicited, unowned6, pingSummary(out))
	})
}

// tunnel6 is a tunnel method over IPv6 as a real server receives it.
type tunnel6 struct {
	method string
	filter string // tcpdump filter for the tunnel packets at the real server
	next   layers.IPProtocol
	// inner checks the headers between the outer IPv6 header and the inner
	// packet and returns the inner packet.
	inner func(t *testing.T, p gopacket.Packet, outer *layers.IPv6) []byte
}

var tunnels6 = []tunnel6{
	{"ipip", "ip6 proto 41", layers.IPProtocolIPv6, func(t *testing.T, p gopacket.Packet, outer *layers.IPv6) []byte {
		return outer.Payload // RFC 2473: the inner packet right after the outer header
	}},
	{"gre", "ip6 proto 47", layers.IPProtocolGRE, func(t *testing.T, p gopacket.Packet, outer *layers.IPv6) []byte {
		gre, _ := p.Layer(layers.LayerTypeGRE).(*layers.GRE)
		if gre == nil || gre.Protocol != layers.EthernetTypeIPv6 || gre.ChecksumPresent || gre.KeyPresent || gre.SeqPresent {
			t.Fatalf("gre header %+v, want the 4-byte header for IPv6", gre)
		}
		return gre.Payload
	}},
	{"gue", "ip6 and udp dst port 6080", layers.IPProtocolUDP, func(t *testing.T, p gopacket.Packet, outer *layers.IPv6) []byte {
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || udp.DstPort != 6080 || udp.SrcPort < 49152 {
			t.Fatalf("gue outer UDP %+v", udp)
		}
		// Over IPv6 a UDP checksum is mandatory (RFC 8200).
		if udp.Checksum == 0 || !udpChecksumOK6(outer) {
			t.Fatalf("gue outer UDP checksum %#04x is wrong", udp.Checksum)
		}
		return udp.Payload
	}},
}

// TestIPv6Tunnel: an IPv6 VIP forwarded in IPv6 tunnels through a router
// to IPv6 real servers decapsulating with dsrlbctl realserver's eBPF
// program. A capture at rs1 shows the outer header (from the balancer's
// address6, hop limit 64 less the router's hop) and the inner packet as
// the client sent it, byte for byte.
func TestIPv6Tunnel(t *testing.T) {
	for _, tun := range tunnels6 {
		t.Run(tun.method, func(t *testing.T) { testIPv6Tunnel(t, tun) })
	}
}

func testIPv6Tunnel(t *testing.T, tun tunnel6) {
	topo := setupL3(t, tun.method, true)
	v6 := topo.IPv6
	rsCap, err := topo.StartCapture(testbed.ServerRole(0), "rs1-"+tun.method, tun.filter)
	if err != nil {
		t.Fatal(err)
	}
	lbCap, err := topo.StartCapture(testbed.RoleLB, "lb-"+tun.method, "ip6 and tcp port 80")
	if err != nil {
		t.Fatal(err)
	}
	clientCap, err := topo.StartCapture(testbed.RoleClient, "client-"+tun.method, "ip6 and tcp port 80")
	if err != nil {
		t.Fatal(err)
	}
	requests(t, topo.Bed, 200, v6.VIP)

	rsPkts := packets(t, rsCap)
	clientPkts := packets(t, clientCap)
	if _, fromVIP := flows6(packets(t, lbCap), v6.Client, v6.VIP); fromVIP != 0 {
		t.Fatalf("%d replies from the VIP crossed the balancer", fromVIP)
	}
	_, replies := flows6(clientPkts, v6.Client, v6.VIP)
	if replies == 0 {
		t.Fatalf("no reply from the VIP at the client")
	}
	// What the client sent, by TCP sequence number, to compare inner packets.
	sent := map[uint32][]byte{}
	for _, p := range clientPkts {
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip != nil && tcp != nil && tcp.SYN && !tcp.ACK && ip.DstIP.Equal(v6.VIP.AsSlice()) {
			sent[tcp.Seq] = append(append([]byte(nil), ip.Contents...), ip.Payload...)
		}
	}
	checked, sports := 0, map[layers.UDPPort]bool{}
	for _, p := range rsPkts {
		outer, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if outer == nil || !outer.DstIP.Equal(v6.Servers[0].AsSlice()) {
			continue
		}
		// The balancer sends with hop limit 64 (pipeline/encap); the router
		// takes one.
		if !outer.SrcIP.Equal(v6.LB.Addr().AsSlice()) || outer.NextHeader != tun.next || outer.HopLimit != 63 {
			t.Fatalf("%s outer header from %v, next header %v, hop limit %d; want from the balancer %v, %v, 63",
				tun.method, outer.SrcIP, outer.NextHeader, outer.HopLimit, v6.LB.Addr(), tun.next)
		}
		if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp != nil {
			sports[udp.SrcPort] = true
		}
		inner := tun.inner(t, p, outer)
		in := gopacket.NewPacket(inner, layers.LayerTypeIPv6, gopacket.Default)
		tcp, _ := in.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || !tcp.SYN || tcp.ACK {
			continue
		}
		if want, ok := sent[tcp.Seq]; ok {
			if !bytes.Equal(inner, want) {
				t.Fatalf("%s: inner SYN differs from what the client sent:\n% x\n% x", tun.method, inner, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatalf("%s: no SYN to rs1 checked in %d packets captured there", tun.method, len(rsPkts))
	}
	if tun.method == "gue" {
		if len(sports) < 2 {
			t.Fatalf("gue outer source ports do not vary across flows: %v", sports)
		}
		t.Logf("gue: %d outer UDP source ports seen at rs1", len(sports))
	}
	t.Logf("%s over IPv6: %d SYNs to rs1 checked (outer from %v, hop limit 63; inner identical to the client's), %d replies from the VIP at the client, none at the balancer",
		tun.method, checked, v6.LB.Addr(), replies)
}

// urlOf is the URL of port 80 of a (IPv4 or IPv6); curl needs -g for
// IPv6 brackets.
func urlOf(a netip.Addr) string { return "http://" + netip.AddrPortFrom(a, 80).String() + "/" }

// startServers6 runs nginx on every real server, answering its name on
// the IPv6 VIP and on its own IPv6 address, and proves the bed before the
// balancer matters: the client reaches each real server's own address
// (through the router in the L3 topology).
func startServers6(t *testing.T, b *testbed.Bed, v6 testbed.IPv6Addrs) {
	t.Helper()
	for i, s := range v6.Servers {
		role := testbed.ServerRole(i)
		if _, err := b.StartNginx(role, map[string][]byte{"index.html": []byte(role + "\n")}, v6.VIP, s); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range v6.Servers {
		out, err := b.Exec(20*time.Second, testbed.RoleClient, "curl", "-6", "-g", "-sS", "-m", "5", urlOf(s))
		if want := testbed.ServerRole(i); err != nil || strings.TrimSpace(out) != want {
			t.Fatalf("client -> %s's own address %s: %v %q, want %q", want, s, err, out, want)
		}
	}
}

// requests sends n requests from the client to the VIP, one connection
// each, and counts the answers (real servers' names); all must be
// answered, by every real server.
func requests(t *testing.T, b *testbed.Bed, n int, vip netip.Addr) map[string]int {
	t.Helper()
	script := fmt.Sprintf(`for i in $(seq %d); do curl -g -sS -m 3 %s 2>&1 || echo "FAIL request $i"; done`, n, urlOf(vip))
	out, err := b.Exec(time.Duration(n)*time.Second, testbed.RoleClient, "bash", "-c", script)
	if err != nil {
		t.Fatalf("curl loop: %v\n%s", err, out)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		count[line]++
	}
	t.Logf("answers to %d requests to %s: %v", n, vip, count)
	if count["rs1"]+count["rs2"] != n || count["rs1"] == 0 || count["rs2"] == 0 {
		t.Fatalf("%d of %d requests answered, want all by both real servers: %v", count["rs1"]+count["rs2"], n, count)
	}
	return count
}

// flows6 counts the IPv6 packets client -> vip and vip -> anywhere.
func flows6(pkts []gopacket.Packet, client, vip netip.Addr) (toVIP, fromVIP int) {
	for _, p := range pkts {
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		switch {
		case ip == nil:
		case ip.SrcIP.Equal(client.AsSlice()) && ip.DstIP.Equal(vip.AsSlice()):
			toVIP++
		case ip.SrcIP.Equal(vip.AsSlice()):
			fromVIP++
		}
	}
	return toVIP, fromVIP
}

func macOf(t *testing.T, b *testbed.Bed, role string) net.HardwareAddr {
	t.Helper()
	s, err := b.MAC(role, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	mac, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// na is a captured neighbour advertisement.
type na struct {
	from net.HardwareAddr // Ethernet source
	tlla net.HardwareAddr // target link-layer address option, if any
}

// advertisements lists the neighbour advertisements for target in pkts.
func advertisements(pkts []gopacket.Packet, target netip.Addr) []na {
	var out []na
	for _, p := range pkts {
		adv, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if adv == nil || eth == nil || !adv.TargetAddress.Equal(target.AsSlice()) {
			continue
		}
		a := na{from: eth.SrcMAC}
		for _, o := range adv.Options {
			if o.Type == layers.ICMPv6OptTargetAddress {
				a.tlla = net.HardwareAddr(o.Data)
			}
		}
		out = append(out, a)
	}
	return out
}

// udpChecksumOK6 verifies the UDP checksum of an IPv6 packet's payload
// against the pseudo-header (RFC 8200 section 8.1).
func udpChecksumOK6(ip *layers.IPv6) bool {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(ip.SrcIP.To16())
	add(ip.DstIP.To16())
	var tail [8]byte
	binary.BigEndian.PutUint32(tail[:4], uint32(len(ip.Payload)))
	tail[7] = byte(layers.IPProtocolUDP)
	add(tail[:])
	add(ip.Payload)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}
