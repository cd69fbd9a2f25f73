//go:build e2e

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/hw/testbed"
)

// TestL3Methods: dscp, ipip, gre and gue through a router to real servers
// set up with dsrlbctl realserver (nftables for dscp, the tc eBPF
// decapsulation for the tunnels, as this kernel has no tunnel modules).
func TestL3Methods(t *testing.T) {
	for _, method := range []string{"dscp", "ipip", "gre", "gue"} {
		t.Run(method, func(t *testing.T) { testL3Method(t, method) })
	}
}

func testL3Method(t *testing.T, method string) {
	topo := setupL3(t, method, false)
	filter := map[string]string{"dscp": "tcp port 80", "ipip": "ip proto 4", "gre": "ip proto 47", "gue": "udp port 6080"}[method]
	rsCap, err := topo.StartCapture(testbed.ServerRole(0), "rs1-"+method, filter)
	if err != nil {
		t.Fatal(err)
	}
	lbCap, err := topo.StartCapture(testbed.RoleLB, "lb-"+method, "tcp port 80 or ip proto 4 or ip proto 47 or udp port 6080")
	if err != nil {
		t.Fatal(err)
	}
	clientCap, err := topo.StartCapture(testbed.RoleClient, "client-"+method, "tcp port 80")
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`for i in $(seq 200); do curl -sS -m 3 http://%s/ 2>&1 || echo "FAIL request $i"; done`, topo.VIP)
	out, err := topo.Exec(120*time.Second, testbed.RoleClient, "bash", "-c", script)
	if err != nil {
		t.Fatalf("curl loop: %v\n%s", err, out)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		count[line]++
	}
	t.Logf("%s answers: %v", method, count)
	if count["rs1"]+count["rs2"] != 200 || count["rs1"] == 0 || count["rs2"] == 0 {
		t.Fatalf("%s: %v", method, count)
	}

	rsPkts, err := rsCap.Stop()
	if err != nil {
		t.Fatal(err)
	}
	lbPkts, err := lbCap.Stop()
	if err != nil {
		t.Fatal(err)
	}
	clientPkts, err := clientCap.Stop()
	if err != nil {
		t.Fatal(err)
	}
	// Replies bypass the balancer.
	for _, p := range lbPkts {
		if ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip != nil && ip.SrcIP.Equal(topo.VIP.AsSlice()) {
			t.Fatalf("a reply from the VIP crossed the balancer: %v", p)
		}
	}
	// Replies reach the client from the VIP, DSCP 0 (the real server's
	// rule clears the code for dscp).
	replies := 0
	for _, p := range clientPkts {
		if ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip != nil && ip.SrcIP.Equal(topo.VIP.AsSlice()) {
			replies++
			if ip.TOS>>2 != 0 {
				t.Fatalf("%s: reply with DSCP %d", method, ip.TOS>>2)
			}
		}
	}
	if replies == 0 {
		t.Fatalf("%s: no reply from the VIP at the client", method)
	}
	// What the client sent, by TCP sequence number, to compare inner packets.
	sent := map[uint32][]byte{}
	for _, p := range clientPkts {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip != nil && tcp != nil && tcp.SYN && !tcp.ACK && ip.DstIP.Equal(topo.VIP.AsSlice()) {
			sent[tcp.Seq] = append([]byte(nil), ip.Contents...)
			sent[tcp.Seq] = append(sent[tcp.Seq], ip.Payload...)
		}
	}
	checked, sports := 0, map[uint16]bool{}
	for _, p := range rsPkts {
		outer, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if outer == nil || !outer.DstIP.Equal(topo.Servers[0].AsSlice()) {
			continue
		}
		var inner []byte
		switch method {
		case "dscp":
			tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tcp == nil || !tcp.SYN || tcp.ACK {
				continue
			}
			if outer.TOS>>2 != 10 || !outer.SrcIP.Equal(topo.Client.AsSlice()) {
				t.Fatalf("dscp packet: TOS %#x from %v", outer.TOS, outer.SrcIP)
			}
			checked++
			continue
		case "ipip":
			if outer.Protocol != layers.IPProtocolIPv4 {
				t.Fatalf("ipip outer protocol %v", outer.Protocol)
			}
			inner = outer.Payload
		case "gre":
			gre, _ := p.Layer(layers.LayerTypeGRE).(*layers.GRE)
			if outer.Protocol != layers.IPProtocolGRE || gre == nil || gre.Protocol != layers.EthernetTypeIPv4 {
				t.Fatalf("gre outer %v %v", outer.Protocol, gre)
			}
			inner = gre.Payload
		case "gue":
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if udp == nil || udp.DstPort != 6080 || udp.SrcPort < 49152 {
				t.Fatalf("gue outer UDP %v", udp)
			}
			sports[uint16(udp.SrcPort)] = true
			inner = udp.Payload
		}
		// The balancer sends TTL 64; the router takes one.
		if !outer.SrcIP.Equal(topo.LB.Addr().AsSlice()) || outer.TTL != 63 {
			t.Fatalf("%s outer source %v TTL %d, want the balancer %v and TTL 63", method, outer.SrcIP, outer.TTL, topo.LB.Addr())
		}
		in := gopacket.NewPacket(inner, layers.LayerTypeIPv4, gopacket.Default)
		tcp, _ := in.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || !tcp.SYN || tcp.ACK {
			continue
		}
		if want, ok := sent[tcp.Seq]; ok {
			// The router decrements the outer TTL only; the inner packet
			// is what the client sent, byte for byte.
			if !bytes.Equal(inner, want) {
				t.Fatalf("%s: inner SYN differs from what the client sent:\n% x\n% x", method, inner, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatalf("%s: no packet to rs1 checked in %d captured", method, len(rsPkts))
	}
	if method == "gue" && len(sports) < 2 {
		t.Fatalf("gue outer source ports do not vary across flows: %v", sports)
	}
	t.Logf("%s: %d SYNs to rs1 checked (outer headers; inner packets identical to the client's), %d replies from the VIP with DSCP 0; gue source ports seen: %d",
		method, checked, replies, len(sports))
}

// setupL3 builds the routed topology for method: real servers set up by
// dsrlbctl realserver, nginx on them, the data plane running. With ipv6 the
// service, its VIP and its real servers are IPv6 (the bed gets IPv6 too).
func setupL3(t *testing.T, method string, ipv6 bool) *testbed.L3 {
	t.Helper()
	topo, _ := setupL3With(t, method, ipv6, "")
	return topo
}

// setupL3With is setupL3 with the data plane's port a net_tap device
// named tap (bridged with eth0) when tap is not "", returning the data
// plane too.
func setupL3With(t *testing.T, method string, ipv6 bool, tap string) (*testbed.L3, *testbed.Proc) {
	t.Helper()
	b, err := testbed.New(t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	topo, err := testbed.SetupL3(b, 2)
	if err != nil {
		t.Fatal(err)
	}
	vip, servers := topo.VIP, topo.Servers
	if ipv6 {
		if err := topo.EnableIPv6(); err != nil {
			t.Fatal(err)
		}
		topo.ServiceIPv6 = true
		vip, servers = topo.IPv6.VIP, topo.IPv6.Servers
	}
	var extra []string
	for i, s := range servers {
		role := testbed.ServerRole(i)
		args := []string{ctlBin, "realserver", "-method", method, "-iface", "eth0", "-self", s.String(), "-apply"}
		if method == "dscp" {
			args = append(args, "-dscp", vip.String()+"=10")
		} else {
			args = append(args, "-vip", vip.String(), "-decap", "ebpf", "-bpf-object", decapObj)
		}
		if out, err := topo.Exec(60*time.Second, role, args...); err != nil {
			t.Fatalf("dsrlbctl realserver on %s: %v\n%s", role, err, out)
		}
	}
	if ipv6 {
		startServers6(t, topo.Bed, topo.IPv6)
	} else {
		for i, s := range servers {
			role := testbed.ServerRole(i)
			if _, err := topo.StartNginx(role, map[string][]byte{"index.html": []byte(role + "\n")}, vip, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if method == "dscp" {
		extra = append(extra, "dscp = 10")
	}
	var p *testbed.Proc
	if tap != "" {
		p, err = topo.StartDataplaneTap(dataplaneBin, topo.DataplaneConfig(method, extra...), tap)
	} else {
		p, err = topo.StartDataplane(dataplaneBin, topo.DataplaneConfig(method, extra...))
	}
	watchDataplane(t, p, err)
	return topo, p
}

// TestTunnelChecksumOffload: on a port whose device computes checksums on
// transmit (net_tap here), the tunnels leave the outer IPv4 header's
// checksum and GUE's UDP checksum over IPv6 to it. The start log says so,
// every request is answered, and the real server receives valid
// checksums. (TestL3Methods and TestIPv6Tunnel prove the software path,
// on af_packet, which has no such offload.)
func TestTunnelChecksumOffload(t *testing.T) {
	for _, c := range []struct {
		method string
		v6     bool
	}{{"ipip", false}, {"gue", false}, {"gue", true}} {
		name := c.method + map[bool]string{false: "/ipv4", true: "/ipv6"}[c.v6]
		t.Run(name, func(t *testing.T) {
			topo, dp := setupL3With(t, c.method, c.v6, "dsrlbp0")
			_, offloads, _ := strings.Cut(dp.Output(), " offloads=")
			offloads, _, _ = strings.Cut(offloads, " ")
			if !strings.Contains(","+offloads+",", ",tx_ipv4_checksum,tx_udp_checksum,") {
				t.Fatalf("the port's start log does not list the transmit checksum offloads:\n%s", dp.Output())
			}
			vip, rs1 := topo.VIP, topo.Servers[0]
			filter := map[string]string{"ipip": "ip proto 4", "gue": "udp dst port 6080"}[c.method]
			if c.v6 {
				vip, rs1, filter = topo.IPv6.VIP, topo.IPv6.Servers[0], "ip6 and udp dst port 6080"
			}
			rsCap, err := topo.StartCapture(testbed.ServerRole(0), "rs1-offload", filter)
			if err != nil {
				t.Fatal(err)
			}
			count := requests(t, topo.Bed, 50, vip)
			if count["rs1"]+count["rs2"] != 50 || count["rs1"] == 0 || count["rs2"] == 0 {
				t.Fatalf("%s: answers %v", name, count)
			}
			checked := 0
			for _, p := range packets(t, rsCap) {
				if c.v6 {
					outer, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
					udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
					if outer == nil || udp == nil || !outer.DstIP.Equal(rs1.AsSlice()) {
						continue
					}
					if udp.Checksum == 0 || !udpChecksumOK6(outer) {
						t.Fatalf("gue over IPv6: UDP checksum %#04x is wrong", udp.Checksum)
					}
				} else {
					outer, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
					if outer == nil || !outer.DstIP.Equal(rs1.AsSlice()) {
						continue
					}
					// The header sums to 0xffff with a valid checksum.
					var sum uint32
					for i := 0; i+1 < len(outer.Contents); i += 2 {
						sum += uint32(binary.BigEndian.Uint16(outer.Contents[i:]))
					}
					for sum > 0xffff {
						sum = sum>>16 + sum&0xffff
					}
					if outer.Checksum == 0 || sum != 0xffff {
						t.Fatalf("%s: outer IPv4 checksum %#04x is wrong (sum %#x)", name, outer.Checksum, sum)
					}
				}
				checked++
			}
			if checked == 0 {
				t.Fatalf("%s: no tunnel packet to rs1 captured", name)
			}
			t.Logf("%s: 50 requests answered %v; %d tunnel packets at rs1, every checksum computed by the device valid", name, count, checked)
		})
	}
}

// TestTunnelMTU: a client's full-size segments do not fit an ipip tunnel
// on a 1500-byte path. The balancer answers them with ICMP fragmentation
// needed (MTU 1480); the client's kernel lowers its path MTU and the
// request goes through.
func TestTunnelMTU(t *testing.T) {
	topo := setupL3(t, "ipip", false)
	c, err := topo.StartCapture(testbed.RoleClient, "client-icmp", "icmp")
	if err != nil {
		t.Fatal(err)
	}
	pkts := fullSizeRequest(t, topo, c, topo.VIP)
	var mtus []uint16
	for _, p := range pkts {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ip == nil || icmp == nil || icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 4) {
			continue
		}
		if !ip.SrcIP.Equal(topo.LB.Addr().AsSlice()) {
			t.Fatalf("fragmentation needed from %v, want the balancer", ip.SrcIP)
		}
		mtus = append(mtus, uint16(icmp.Seq)) // bytes 6-7: the next-hop MTU (RFC 1191)
	}
	if len(mtus) == 0 {
		t.Fatalf("no ICMP fragmentation needed reached the client:\n%s", c.Dump("-v"))
	}
	for _, m := range mtus {
		if m != 1480 {
			t.Fatalf("next-hop MTU %d, want 1480 (1500 - 20 bytes of IPIP)", m)
		}
	}
	route, _ := topo.Exec(5*time.Second, testbed.RoleClient, "ip", "route", "get", topo.VIP.String())
	if !strings.Contains(route, "mtu 1480") {
		t.Errorf("the client's route to the VIP does not carry the learnt MTU: %s", route)
	}
	t.Logf("%d ICMP fragmentation needed with MTU 1480; the request then went through (client route: %s)", len(mtus), strings.TrimSpace(route))
}

// TestTunnelMTU6: the same over IPv6 (ipip: IPv6 in IPv6, 40 bytes): the
// balancer answers full-size segments with ICMPv6 Packet Too Big (MTU 1460)
// from its own IPv6 address, and the request goes through.
func TestTunnelMTU6(t *testing.T) {
	topo := setupL3(t, "ipip", true)
	v6 := topo.IPv6
	c, err := topo.StartCapture(testbed.RoleClient, "client-icmp6", "icmp6")
	if err != nil {
		t.Fatal(err)
	}
	pkts := fullSizeRequest(t, topo, c, v6.VIP)
	n := 0
	for _, p := range pkts {
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		if ip == nil || icmp == nil || icmp.TypeCode.Type() != layers.ICMPv6TypePacketTooBig {
			continue
		}
		if !ip.SrcIP.Equal(v6.LB.Addr().AsSlice()) || !ip.DstIP.Equal(v6.Client.AsSlice()) {
			t.Fatalf("Packet Too Big %v -> %v, want the balancer to the client", ip.SrcIP, ip.DstIP)
		}
		// gopacket leaves the 4 bytes after the checksum (the MTU) in
		// the payload.
		if len(icmp.Payload) < 4 {
			t.Fatalf("Packet Too Big of %d bytes", len(icmp.Payload))
		}
		if mtu := binary.BigEndian.Uint32(icmp.Payload); mtu != 1460 {
			t.Fatalf("Packet Too Big MTU %d, want 1460 (1500 - 40 bytes of IPv6 in IPv6)", mtu)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no ICMPv6 Packet Too Big reached the client:\n%s", c.Dump("-v"))
	}
	route, _ := topo.Exec(5*time.Second, testbed.RoleClient, "ip", "-6", "route", "get", v6.VIP.String())
	if !strings.Contains(route, "mtu 1460") {
		t.Errorf("the client's route to the VIP does not carry the learnt MTU: %s", route)
	}
	t.Logf("%d ICMPv6 Packet Too Big with MTU 1460; the request then went through (client route: %s)", n, strings.TrimSpace(route))
}

// fullSizeRequest sends one request to vip from the client whose 6000-byte
// header makes it several full-size (1500-byte, DF) packets, checks that a
// real server answered, and returns what capture c saw meanwhile.
func fullSizeRequest(t *testing.T, topo *testbed.L3, c *testbed.Capture, vip netip.Addr) []gopacket.Packet {
	t.Helper()
	pad := strings.Repeat("x", 6000)
	out, err := topo.Exec(30*time.Second, testbed.RoleClient, "curl", "-g", "-sS", "-m", "20", "-H", "X-Pad: "+pad, urlOf(vip))
	if err != nil {
		t.Fatalf("request with full-size segments: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(out); got != "rs1" && got != "rs2" {
		t.Fatalf("answer %q", got)
	}
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}
