package header

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func icmp4Frame(t testing.TB, typ, code uint8, id, seq uint16, payload []byte) ([]byte, *layers.ICMPv4) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq}
	return serialize(t, eth, ip, ic, gopacket.Payload(payload)), ic
}

func TestICMPv4Echo(t *testing.T) {
	frame, ref := icmp4Frame(t, ICMPv4EchoRequest, 0, 0x4242, 7, []byte("ping data"))
	ip := IPv4(frame[14:])
	c := ICMPv4(ip.Payload())
	if !c.IsValid(len(c)) {
		t.Fatal("invalid")
	}
	if c.Type() != ICMPv4EchoRequest || c.Code() != 0 || c.Checksum() != ref.Checksum || c.Ident() != 0x4242 || c.Seq() != 7 {
		t.Fatalf("fields %d %d %#x %#x %d", c.Type(), c.Code(), c.Checksum(), c.Ident(), c.Seq())
	}
	eqBytes(t, "Payload", c.Payload(), []byte("ping data"))
	if got := L4Checksum4(ip.Src(), ip.Dst(), IPProtoICMP, c, ICMPChecksumOffset); got != ref.Checksum {
		t.Errorf("L4Checksum4(ICMP) = %#04x, gopacket %#04x (no pseudo header for ICMP)", got, ref.Checksum)
	}
	c.SetTypeWithChecksumUpdate(ICMPv4EchoReply)
	if c.Type() != ICMPv4EchoReply || c.Checksum() != L4Checksum4(ip.Src(), ip.Dst(), IPProtoICMP, c, ICMPChecksumOffset) {
		t.Fatalf("incremental %#04x, full %#04x", c.Checksum(), L4Checksum4(ip.Src(), ip.Dst(), IPProtoICMP, c, ICMPChecksumOffset))
	}
	want, _ := icmp4Frame(t, ICMPv4EchoReply, 0, 0x4242, 7, []byte("ping data"))
	eqBytes(t, "echo reply", frame, want)

	c.SetType(ICMPv4DestUnreachable)
	c.SetCode(ICMPv4FragNeededCode)
	c.SetMTU(1400)
	c.SetChecksum(L4Checksum4(ip.Src(), ip.Dst(), IPProtoICMP, c, ICMPChecksumOffset))
	d := decode(t, frame).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if d.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || d.Seq != 1400 || c.MTU() != 1400 {
		t.Fatalf("gopacket sees %+v", d)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, d, gopacket.Payload(d.Payload)); err != nil {
		t.Fatal(err)
	}
	if d.Checksum != c.Checksum() {
		t.Errorf("gopacket checksum %#04x, ours %#04x", d.Checksum, c.Checksum())
	}
	for n := 0; n < 8; n++ {
		if c.IsValid(n) || c[:n].IsValid(100) {
			t.Errorf("IsValid accepted %d bytes", n)
		}
	}
	if !c[:8].IsValid(8) {
		t.Error("8 bytes rejected")
	}
}

// An echo request whose identifier, sequence number and data are all zero
// becomes an all-zero reply, whose checksum must be 0xffff: the one case
// where the plain RFC 1624 update (0x0000) would be rejected by receivers.
func TestICMPv4EchoReplyAllZero(t *testing.T) {
	for _, payload := range [][]byte{nil, make([]byte, 3), make([]byte, 56)} {
		frame, _ := icmp4Frame(t, ICMPv4EchoRequest, 0, 0, 0, payload)
		c := ICMPv4(IPv4(frame[14:]).Payload())
		if c.Checksum() != ^uint16(ICMPv4EchoRequest<<8) {
			t.Fatalf("setup: checksum %#04x", c.Checksum())
		}
		c.SetTypeWithChecksumUpdate(ICMPv4EchoReply)
		if c.Checksum() != 0xffff || FoldChecksum(Checksum(c, 0)) != 0 {
			t.Errorf("payload %d: checksum %#04x, verification %#04x", len(payload), c.Checksum(), FoldChecksum(Checksum(c, 0)))
		}
		want, _ := icmp4Frame(t, ICMPv4EchoReply, 0, 0, 0, payload)
		eqBytes(t, "reply", frame, want)
	}
	// A non-zero message whose new checksum really is 0x0000 keeps it.
	c := ICMPv4{ICMPv4EchoRequest, 0, 0, 0, 0xff, 0xff, 0, 0}
	c.SetChecksum(L4Checksum4([4]byte{}, [4]byte{}, IPProtoICMP, c, ICMPChecksumOffset))
	c.SetTypeWithChecksumUpdate(ICMPv4EchoReply)
	if c.Checksum() != 0 || FoldChecksum(Checksum(c, 0)) != 0 {
		t.Errorf("non-zero message: checksum %#04x", c.Checksum())
	}
}

func nsFrame(t testing.TB, opts layers.ICMPv6Options) ([]byte, *layers.ICMPv6) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "33:33:ff:00:00:02"), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("ff02::1:ff00:2")}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6NeighborSolicit, 0)}
	if err := ic.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("2001:db8::2"), Options: opts}
	return serialize(t, eth, ip, ic, ns), ic
}

func TestICMPv6NS(t *testing.T) {
	mac := mustMAC(t, "02:aa:bb:cc:dd:ee")
	frame, ref := nsFrame(t, layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: mac}})
	ip := IPv6(frame[14:])
	if !ip.IsValid(len(ip)) {
		t.Fatal("ip invalid")
	}
	proto, off, res := ip.SkipExtensions()
	if proto != IPProtoICMPv6 || res != ExtOK {
		t.Fatal("skip")
	}
	c := ICMPv6(ip[off : IPv6Len+int(ip.PayloadLen())])
	if !c.IsValid(len(c)) || !c.IsValidNDP(len(c)) || len(c) != 32 {
		t.Fatalf("invalid, len %d", len(c))
	}
	if c.Type() != ICMPv6NeighborSolicit || c.Code() != 0 || c.Checksum() != ref.Checksum || c.NDPTarget() != ip6(t, "2001:db8::2") {
		t.Fatalf("fields %d %d %#x %v", c.Type(), c.Code(), c.Checksum(), c.NDPTarget())
	}
	if got := L4Checksum6(ip.Src(), ip.Dst(), IPProtoICMPv6, c, ICMPChecksumOffset); got != ref.Checksum {
		t.Errorf("L4Checksum6 = %#04x, gopacket %#04x", got, ref.Checksum)
	}
	if m, ok := c.NDPLinkLayerOption(len(c), NDPOptSourceLinkLayer); !ok || m != MAC(mac) {
		t.Errorf("source LL option = %v %v", m, ok)
	}
	if _, ok := c.NDPLinkLayerOption(len(c), NDPOptTargetLinkLayer); ok {
		t.Error("target LL option found in NS")
	}
	for n := 0; n < len(c); n++ {
		if _, ok := c.NDPLinkLayerOption(n, NDPOptSourceLinkLayer); ok {
			t.Errorf("option found with n=%d", n)
		}
		if _, ok := c[:n].NDPLinkLayerOption(100, NDPOptSourceLinkLayer); ok {
			t.Errorf("option found in c[:%d]", n)
		}
	}
	for n := 0; n < NDPMinLen; n++ {
		if c.IsValidNDP(n) {
			t.Errorf("IsValidNDP(%d)", n)
		}
	}

	// Turn it into an NA in place and let gopacket check the result.
	c.SetType(ICMPv6NeighborAdvert)
	c.SetNAFlags(NAFlagSolicited | NAFlagOverride)
	c.SetNDPTarget(ip6(t, "2001:db8::99"))
	if PutNDPLinkLayerOption(c[24:], NDPOptTargetLinkLayer, MAC{2, 0, 0, 0, 0, 0x99}) != 8 || PutNDPLinkLayerOption(c[25:], 1, MAC{}) != 0 {
		t.Fatal("PutNDPLinkLayerOption")
	}
	c.SetChecksum(L4Checksum6(ip.Src(), ip.Dst(), IPProtoICMPv6, c, ICMPChecksumOffset))
	p := decode(t, frame)
	d := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	na := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if d.TypeCode.Type() != ICMPv6NeighborAdvert || na.Flags != 0x60 || !na.Solicited() || !na.Override() || na.Router() ||
		[16]byte(na.TargetAddress) != ip6(t, "2001:db8::99") || len(na.Options) != 1 ||
		na.Options[0].Type != layers.ICMPv6OptTargetAddress || MAC(na.Options[0].Data) != (MAC{2, 0, 0, 0, 0, 0x99}) {
		t.Fatalf("gopacket sees %+v %+v", d, na)
	}
	if err := d.SetNetworkLayerForChecksum(p.NetworkLayer()); err != nil {
		t.Fatal(err)
	}
	if err, r := d.VerifyChecksum(); err != nil || !r.Valid {
		t.Errorf("gopacket checksum verification: %v %+v", err, r)
	}
	if c.NAFlags() != NAFlagSolicited|NAFlagOverride {
		t.Error("NAFlags")
	}
}

func TestICMPv6NA(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "33:33:00:00:00:01"), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP("fe80::1"), DstIP: net.ParseIP("ff02::1")}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6NeighborAdvert, 0)}
	if err := ic.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	na := &layers.ICMPv6NeighborAdvertisement{Flags: 0x80 | 0x20, TargetAddress: net.ParseIP("2001:db8::5"),
		Options: layers.ICMPv6Options{
			{Type: 14, Data: make([]byte, 6)}, // nonce (RFC 3971), one unit
			{Type: layers.ICMPv6OptTargetAddress, Data: mustMAC(t, "02:00:00:00:00:05")},
		}}
	frame := serialize(t, eth, ip, ic, na)
	c := ICMPv6(frame[14+40:])
	if c.NAFlags() != NAFlagRouter|NAFlagOverride || c.NDPTarget() != ip6(t, "2001:db8::5") || c.Checksum() != ic.Checksum {
		t.Fatalf("NA fields %#x %v", c.NAFlags(), c.NDPTarget())
	}
	if m, ok := c.NDPLinkLayerOption(len(c), NDPOptTargetLinkLayer); !ok || m != (MAC{2, 0, 0, 0, 0, 5}) {
		t.Errorf("target LL = %v %v", m, ok)
	}
}

// ndpMsg returns a 24-byte NS body followed by opts.
func ndpMsg(opts ...byte) ICMPv6 {
	b := make([]byte, NDPMinLen, NDPMinLen+len(opts))
	b[0] = ICMPv6NeighborSolicit
	return ICMPv6(append(b, opts...))
}

func TestNDPLinkLayerOptionMalformed(t *testing.T) {
	ll := func(typ byte, last byte) []byte { return []byte{typ, 1, 2, 0, 0, 0, 0, last} }
	cat := func(bs ...[]byte) []byte {
		var r []byte
		for _, b := range bs {
			r = append(r, b...)
		}
		return r
	}
	cases := []struct {
		name string
		c    ICMPv6
		typ  uint8
		ok   bool
		last byte
	}{
		{"no options", ndpMsg(), 1, false, 0},
		{"source", ndpMsg(ll(1, 7)...), 1, true, 7},
		{"wrong type", ndpMsg(ll(2, 7)...), 1, false, 0},
		{"zero length", ndpMsg(1, 0, 2, 0, 0, 0, 0, 1), 1, false, 0},
		{"zero length after match", ndpMsg(cat(ll(1, 3), []byte{5, 0, 0, 0, 0, 0, 0, 0})...), 1, false, 0},
		{"zero length before match", ndpMsg(cat([]byte{5, 0, 0, 0, 0, 0, 0, 0}, ll(1, 3))...), 1, false, 0},
		{"overflow", ndpMsg(1, 2, 2, 0, 0, 0, 0, 1), 1, false, 0},
		{"lone type byte", ndpMsg(cat(ll(1, 3), []byte{1})...), 1, false, 0},
		{"trailing garbage < 8", ndpMsg(cat(ll(1, 3), []byte{9, 1, 0})...), 1, false, 0},
		{"long option", ndpMsg(cat([]byte{1, 2, 2, 0, 0, 0, 0, 9}, make([]byte, 8))...), 1, true, 9},
		{"second of three", ndpMsg(cat([]byte{14, 1, 0, 0, 0, 0, 0, 0}, ll(2, 4), ll(1, 5))...), 2, true, 4},
		{"first match wins", ndpMsg(cat(ll(1, 1), ll(1, 2))...), 1, true, 1},
	}
	for _, c := range cases {
		m, ok := c.c.NDPLinkLayerOption(len(c.c), c.typ)
		if ok != c.ok || (ok && m != (MAC{2, 0, 0, 0, 0, c.last})) {
			t.Errorf("%s: %v %v", c.name, m, ok)
		}
	}
	// Beyond the slice: n is capped.
	c := ndpMsg(ll(1, 7)...)
	if _, ok := c.NDPLinkLayerOption(1000, 1); !ok {
		t.Error("n > len not capped")
	}
	if _, ok := c.NDPLinkLayerOption(-5, 1); ok {
		t.Error("negative n")
	}
}

func TestICMPv6EchoAndPTB(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6EchoRequest, 0)}
	if err := ic.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	frame := serialize(t, eth, ip, ic, &layers.ICMPv6Echo{Identifier: 0x1111, SeqNumber: 0x2222}, gopacket.Payload([]byte("abc")))
	p := IPv6(frame[14:])
	c := ICMPv6(p.Payload())
	if c.Ident() != 0x1111 || c.Seq() != 0x2222 || c.Type() != ICMPv6EchoRequest {
		t.Fatal("echo fields")
	}
	c.SetTypeWithChecksumUpdate(ICMPv6EchoReply)
	if full := L4Checksum6(p.Src(), p.Dst(), IPProtoICMPv6, c, ICMPChecksumOffset); c.Checksum() != full {
		t.Errorf("incremental %#04x, full %#04x", c.Checksum(), full)
	}
	c.SetType(ICMPv6PacketTooBig)
	c.SetCode(0)
	c.SetMTU(1280)
	if c.MTU() != 1280 || c[4] != 0 || c[5] != 0 || c[6] != 5 || c[7] != 0 {
		t.Error("MTU")
	}
}
