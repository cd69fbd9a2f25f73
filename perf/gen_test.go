package perf

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type flowKey struct {
	src   netip.Addr
	sport uint16
}

func readBack(t *testing.T, c GenConfig) []gopacket.Packet {
	t.Helper()
	var buf bytes.Buffer
	n, err := WritePcap(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []gopacket.Packet
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkts = append(pkts, gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default))
	}
	if len(pkts) != n {
		t.Fatalf("wrote %d packets, read %d", n, len(pkts))
	}
	return pkts
}

func TestGenIPv4Flows64(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.100")
	pkts := readBack(t, GenConfig{Flows: 1000, Packets: 4000, VIP: vip})
	flows := map[flowKey]bool{}
	syn := 0
	for i, p := range pkts {
		if len(p.Data()) != 60 {
			t.Fatalf("packet %d is %d bytes, want 60 (64 on the wire)", i, len(p.Data()))
		}
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("packet %d does not decode as IPv4/TCP: %v", i, p)
		}
		if !ip.DstIP.Equal(vip.AsSlice()) || tcp.DstPort != 80 {
			t.Fatalf("packet %d to %v:%d", i, ip.DstIP, tcp.DstPort)
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		if !netip.MustParsePrefix("198.51.100.0/24").Contains(src) && !netip.MustParsePrefix("203.0.113.0/24").Contains(src) {
			t.Fatalf("client address %v outside the documentation ranges", src)
		}
		flows[flowKey{src, uint16(tcp.SrcPort)}] = true
		if tcp.SYN {
			syn++
		}
	}
	if len(flows) != 1000 {
		t.Errorf("%d distinct flows, want 1000", len(flows))
	}
	if syn != 4000/8 {
		t.Errorf("%d SYNs in 4000 packets, want one per 8", syn)
	}
}

func TestGenIMIXIPv6Noise(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::100")
	pkts := readBack(t, GenConfig{Flows: 100, Packets: 1200, VIP: vip, Sizes: SizeIMIX, Noise: 0.1})
	sizes := map[int]int{}
	noise := 0
	for i, p := range pkts {
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil || p.Layer(layers.LayerTypeTCP) == nil {
			t.Fatalf("packet %d does not decode as IPv6/TCP", i)
		}
		if !ip.DstIP.Equal(vip.AsSlice()) {
			noise++
		}
		sizes[len(p.Data())+4]++
	}
	if noise != 120 {
		t.Errorf("%d noise packets of 1200, want 10%%", noise)
	}
	// SYNs are minimum size; the other packets follow the IMIX sequence.
	// IPv6 with TCP cannot fit 64 bytes: its smallest frame is 78.
	if sizes[594] == 0 || sizes[1518] == 0 || sizes[78] < sizes[594] || sizes[64] != 0 {
		t.Errorf("frame sizes %v do not look like IMIX", sizes)
	}
}

func TestGenConfigErrors(t *testing.T) {
	var buf bytes.Buffer
	for _, c := range []GenConfig{
		{},
		{VIP: netip.MustParseAddr("192.0.2.1"), Flows: -1},
		{VIP: netip.MustParseAddr("192.0.2.1"), Sizes: "jumbo"},
		{VIP: netip.MustParseAddr("192.0.2.1"), Noise: 2},
	} {
		if _, err := WritePcap(&buf, c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}
