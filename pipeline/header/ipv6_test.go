package header

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ipv6ExtFrame is Ethernet + IPv6 + hop-by-hop + destination options + TCP.
func ipv6ExtFrame(t testing.TB) ([]byte, *layers.IPv6, *layers.TCP) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv6}
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	// Router Alert plus an explicit empty PadN to reach 8 bytes: gopacket
	// v1.7.7 pads an unaligned options area with length%8 bytes instead of
	// 8-length%8, which fails for most lengths.
	hbh.Options = []*layers.IPv6HopByHopOption{
		{OptionType: 5, OptionData: []byte{0, 0}, OptionAlignment: [2]uint8{2, 0}},
		{OptionType: 1, OptionData: []byte{}},
	}
	dst := &layers.IPv6Destination{}
	dst.NextHeader = layers.IPProtocolTCP
	dst.Options = []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: make([]byte, 12)}}
	ip := &layers.IPv6{
		Version: 6, TrafficClass: 0xa5, FlowLabel: 0xbcdef, HopLimit: 33,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8:ffff::abcd"), HopByHop: hbh,
	}
	tcp := &layers.TCP{SrcPort: 1234, DstPort: 80, Seq: 99, ACK: true, Ack: 100, Window: 512}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth, ip, dst, tcp, gopacket.Payload([]byte("payload"))), ip, tcp
}

func TestIPv6Accessors(t *testing.T) {
	frame, _, tcpRef := ipv6ExtFrame(t)
	p := decode(t, frame)
	ref := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	hbh := p.Layer(layers.LayerTypeIPv6HopByHop).(*layers.IPv6HopByHop)
	dst := p.Layer(layers.LayerTypeIPv6Destination).(*layers.IPv6Destination)

	et, off, ok := ParseL2(frame)
	if !ok || et != EtherTypeIPv6 || off != 14 {
		t.Fatal("ParseL2")
	}
	ip := IPv6(frame[off:])
	if !ip.IsValid(len(ip)) {
		t.Fatal("not valid")
	}
	if ip.TrafficClass() != 0xa5 || ip.FlowLabel() != 0xbcdef || ip.PayloadLen() != ref.Length || ip.NextHeader() != IPv6HopByHop ||
		ip.HopLimit() != 33 || ip.Src() != [16]byte(ref.SrcIP) || ip.Dst() != [16]byte(ref.DstIP) {
		t.Fatalf("fields: tc %#x fl %#x plen %d nh %d hl %d", ip.TrafficClass(), ip.FlowLabel(), ip.PayloadLen(), ip.NextHeader(), ip.HopLimit())
	}
	eqBytes(t, "Payload", ip.Payload(), frame[off+IPv6Len:])
	eqBytes(t, "Payload tail", ip.Payload()[len(hbh.Contents):], ref.Payload) // gopacket strips hop-by-hop

	proto, l4off, res := ip.SkipExtensions()
	wantOff := IPv6Len + len(hbh.Contents) + len(dst.Contents)
	if proto != IPProtoTCP || res != ExtOK || l4off != wantOff || len(dst.Contents) < 16 {
		t.Fatalf("SkipExtensions = %d %d %v, want TCP %d ExtOK", proto, l4off, res, wantOff)
	}
	seg := ip[l4off : IPv6Len+int(ip.PayloadLen())]
	tcp := TCP(seg)
	if !tcp.IsValid(len(seg)) || tcp.SrcPort() != 1234 || tcp.DstPort() != 80 {
		t.Fatal("TCP after extensions")
	}
	if got := L4Checksum6(ip.Src(), ip.Dst(), proto, seg, TCPChecksumOffset); got != tcpRef.Checksum || got != tcp.Checksum() {
		t.Errorf("L4Checksum6 = %#04x, gopacket %#04x", got, tcpRef.Checksum)
	}
}

func TestIPv6SettersEncode(t *testing.T) {
	frame, _, _ := ipv6ExtFrame(t)
	ip := IPv6(frame[14:])
	a, b := ip6(t, "fe80::1"), ip6(t, "ff02::1:ff00:1")
	ip.SetTrafficClass(0x3c)
	ip.SetFlowLabel(0xfff12345) // upper bits dropped
	ip.SetHopLimit(255)
	ip.SetSrc(a)
	ip.SetDst(b)
	ip.SetPayloadLen(ip.PayloadLen())
	ip.SetNextHeader(IPv6HopByHop)
	d := &layers.IPv6{}
	if err := d.DecodeFromBytes(ip, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.Version != 6 || d.TrafficClass != 0x3c || d.FlowLabel != 0x12345 || d.HopLimit != 255 ||
		[16]byte(d.SrcIP) != a || [16]byte(d.DstIP) != b || d.NextHeader != layers.IPProtocolIPv6HopByHop {
		t.Fatalf("gopacket sees %+v", d)
	}
	if ip.TrafficClass() != 0x3c || ip.FlowLabel() != 0x12345 {
		t.Error("TC/flow label")
	}
	ip.SetFlowLabel(0)
	if ip.TrafficClass() != 0x3c || ip[0]>>4 != 6 {
		t.Error("SetFlowLabel clobbered version/TC")
	}
	ip.SetTrafficClass(0xff)
	ip.SetFlowLabel(0xfffff)
	ip.SetTrafficClass(0)
	if ip.FlowLabel() != 0xfffff || ip[0] != 0x60 {
		t.Error("SetTrafficClass clobbered version/flow label")
	}

	buf := make([]byte, 48)
	for i := range buf {
		buf[i] = 0xaa
	}
	f := IPv6Fields{TrafficClass: 0xe1, FlowLabel: 0x54321, PayloadLen: 8, NextHeader: IPProtoUDP, HopLimit: 64, Src: a, Dst: b}
	IPv6(buf).Encode(&f)
	if buf[40] != 0xaa || !IPv6(buf).IsValid(48) {
		t.Fatal("Encode overran or invalid")
	}
	d = &layers.IPv6{}
	if err := d.DecodeFromBytes(buf, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.Version != 6 || d.TrafficClass != 0xe1 || d.FlowLabel != 0x54321 || d.Length != 8 || d.NextHeader != layers.IPProtocolUDP ||
		d.HopLimit != 64 || [16]byte(d.SrcIP) != a || [16]byte(d.DstIP) != b {
		t.Fatalf("gopacket sees %+v", d)
	}
}

func TestIPv6IsValid(t *testing.T) {
	frame, _, _ := ipv6ExtFrame(t)
	pkt := append([]byte(nil), frame[14:]...)
	for n := 0; n <= len(pkt); n++ {
		want := n == len(pkt)
		if got := IPv6(pkt).IsValid(n); got != want {
			t.Errorf("IsValid(%d) = %v", n, got)
		}
		if got := IPv6(pkt[:n]).IsValid(1 << 20); got != want {
			t.Errorf("IPv6(pkt[:%d]).IsValid(big) = %v", n, got)
		}
	}
	ip := IPv6(pkt)
	ip.SetPayloadLen(uint16(len(pkt) - 40 + 1))
	if ip.IsValid(len(pkt)) {
		t.Error("payload length > n accepted")
	}
	ip.SetPayloadLen(0)
	if !ip.IsValid(40) {
		t.Error("empty payload rejected")
	}
	for _, v := range []byte{0, 4, 7, 0xf} {
		ip[0] = v<<4 | ip[0]&0xf
		if ip.IsValid(len(pkt)) {
			t.Errorf("version %d accepted", v)
		}
	}
}

// ext6 builds an IPv6 packet whose fixed header has next header nh0,
// followed by hdrs, each given as (next header, total length in bytes, a
// multiple of 8), then tail.
func ext6(nh0 uint8, hdrs [][2]int, tail []byte) IPv6 {
	b := make([]byte, IPv6Len)
	for _, h := range hdrs {
		e := make([]byte, h[1])
		e[0] = byte(h[0])
		e[1] = byte(h[1]/8 - 1)
		b = append(b, e...)
	}
	b = append(b, tail...)
	ip := IPv6(b)
	ip.Encode(&IPv6Fields{PayloadLen: uint16(len(b) - IPv6Len), NextHeader: nh0, HopLimit: 1})
	return ip
}

func TestSkipExtensions(t *testing.T) {
	udp := make([]byte, 8)
	cases := []struct {
		name   string
		ip     IPv6
		proto  uint8
		offset int
		res    ExtResult
	}{
		{"none", ext6(IPProtoUDP, nil, udp), IPProtoUDP, 40, ExtOK},
		{"hbh", ext6(IPv6HopByHop, [][2]int{{IPProtoUDP, 8}}, udp), IPProtoUDP, 48, ExtOK},
		{"hbh+routing+dest", ext6(IPv6HopByHop, [][2]int{{IPv6Routing, 16}, {IPv6DestOpts, 24}, {IPProtoICMPv6, 8}}, udp), IPProtoICMPv6, 88, ExtOK},
		{"dest twice", ext6(IPv6DestOpts, [][2]int{{IPv6Routing, 8}, {IPv6DestOpts, 8}, {IPProtoTCP, 8}}, udp), IPProtoTCP, 64, ExtOK},
		{"max len", ext6(IPv6DestOpts, [][2]int{{IPProtoTCP, 2048}}, udp), IPProtoTCP, 40 + 2048, ExtOK},
		{"no next", ext6(IPv6HopByHop, [][2]int{{IPv6NoNext, 8}}, nil), IPv6NoNext, 48, ExtOK},
		{"fragment", ext6(IPv6HopByHop, [][2]int{{IPv6Fragment, 8}, {IPProtoUDP, 8}}, udp), IPv6Fragment, 48, ExtFragment},
		{"fragment first", ext6(IPv6Fragment, [][2]int{{IPProtoUDP, 8}}, udp), IPv6Fragment, 40, ExtFragment},
		{"fragment truncated", ext6(IPv6Fragment, nil, make([]byte, 7)), IPv6Fragment, 40, ExtTruncated},
		{"AH", ext6(IPv6DestOpts, [][2]int{{51, 8}}, udp), 51, 48, ExtUnknown},
		{"ESP", ext6(50, nil, udp), 50, 40, ExtUnknown},
		{"mobility", ext6(135, nil, udp), 135, 40, ExtUnknown},
		{"empty", ext6(IPv6HopByHop, nil, nil), IPv6HopByHop, 40, ExtTruncated},
		{"short ext", ext6(IPv6HopByHop, nil, make([]byte, 7)), IPv6HopByHop, 40, ExtTruncated},
		{"second truncated", ext6(IPv6HopByHop, [][2]int{{IPv6DestOpts, 8}}, make([]byte, 4)), IPv6DestOpts, 48, ExtTruncated},
	}
	for _, c := range cases {
		proto, off, res := c.ip.SkipExtensions()
		if proto != c.proto || off != c.offset || res != c.res {
			t.Errorf("%s: got %d %d %v, want %d %d %v", c.name, proto, off, res, c.proto, c.offset, c.res)
		}
	}

	// Hdr Ext Len claiming more than the payload.
	ip := ext6(IPv6HopByHop, [][2]int{{IPProtoTCP, 8}}, make([]byte, 40))
	ip[41] = 10 // 88 bytes > 8 + 40
	if proto, off, res := ip.SkipExtensions(); res != ExtTruncated || proto != IPv6HopByHop || off != 40 {
		t.Errorf("overlong ext: %d %d %v", proto, off, res)
	}
	ip[41] = 5 // 48 bytes == everything: OK with TCP at the very end
	if proto, off, res := ip.SkipExtensions(); res != ExtOK || proto != IPProtoTCP || off != 88 {
		t.Errorf("exact ext: %d %d %v", proto, off, res)
	}

	// The walk is bounded by Payload Length, not by the slice.
	frame, _, _ := ipv6ExtFrame(t)
	pkt := IPv6(append([]byte(nil), frame[14:]...))
	_, full, _ := pkt.SkipExtensions()
	for plen := 0; plen < int(pkt.PayloadLen()); plen++ {
		pkt.SetPayloadLen(uint16(plen))
		_, off, res := pkt.SkipExtensions()
		if want := 40+plen >= full; (res == ExtOK) != want || (want && off != full) {
			t.Errorf("payload len %d: off %d %v", plen, off, res)
		}
	}
	// ...and by the slice when Payload Length lies.
	pkt.SetPayloadLen(0xffff)
	for n := 0; n < full; n++ {
		if _, _, res := pkt[:n].SkipExtensions(); res != ExtTruncated {
			t.Errorf("slice of %d: %v", n, res)
		}
	}
	if _, off, res := pkt.SkipExtensions(); res != ExtOK || off != full {
		t.Errorf("oversized payload len: %d %v", off, res)
	}
}

func TestIPv6Frag(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolIPv6Fragment,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	fr := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 0x1234, MoreFragments: true, Identification: 0xdeadbeef}
	frame := serialize(t, eth, ip, fr, gopacket.Payload(make([]byte, 16)))
	p := IPv6(frame[14:])
	proto, off, res := p.SkipExtensions()
	if proto != IPv6Fragment || off != 40 || res != ExtFragment {
		t.Fatalf("SkipExtensions = %d %d %v", proto, off, res)
	}
	f := IPv6Frag(p[off:])
	if f.NextHeader() != IPProtoUDP || f.FragmentOffset() != 0x1234 || !f.MoreFragments() || f.ID() != 0xdeadbeef {
		t.Errorf("frag: nh %d off %#x m %v id %#x", f.NextHeader(), f.FragmentOffset(), f.MoreFragments(), f.ID())
	}
	binary.BigEndian.PutUint16(f[2:], 0)
	if f.MoreFragments() || f.FragmentOffset() != 0 {
		t.Error("cleared flags")
	}
	if ExtOK.String() != "ExtOK" || ExtFragment.String() != "ExtFragment" || ExtResult(9).String() == "" {
		t.Error("String")
	}
}
