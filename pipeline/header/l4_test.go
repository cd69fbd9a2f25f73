package header

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func tcpOptFrame(t testing.TB) ([]byte, *layers.TCP) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
	tcp := &layers.TCP{
		SrcPort: 51515, DstPort: 8080, Seq: 0xdeadbeef, Ack: 0x01020304, Window: 0xfedc, Urgent: 0x0102,
		SYN: true, ACK: true, ECE: true, CWR: true, URG: true, PSH: true,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted},
			{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{7}},
		},
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth, ip, tcp, gopacket.Payload([]byte("GET / HTTP/1.0\r\n\r\n"))), tcp
}

func TestTCPAccessors(t *testing.T) {
	frame, ref := tcpOptFrame(t)
	ip := IPv4(frame[14:])
	if !ip.IsValid(len(ip)) || ip.Protocol() != IPProtoTCP {
		t.Fatal("ip")
	}
	seg := ip.Payload()
	tcp := TCP(seg)
	if !tcp.IsValid(len(seg)) {
		t.Fatal("not valid")
	}
	if ref.DataOffset != 10 {
		t.Fatalf("setup: data offset %d", ref.DataOffset)
	}
	want := uint8(TCPFlagSYN | TCPFlagACK | TCPFlagECE | TCPFlagCWR | TCPFlagURG | TCPFlagPSH)
	if tcp.SrcPort() != 51515 || tcp.DstPort() != 8080 || tcp.Seq() != 0xdeadbeef || tcp.Ack() != 0x01020304 ||
		tcp.DataOffset() != 40 || tcp.Flags() != want || tcp.Window() != 0xfedc || tcp.Checksum() != ref.Checksum || tcp.UrgentPointer() != 0x0102 {
		t.Fatalf("fields: %d %d %#x %#x %d %#x %#x %#x", tcp.SrcPort(), tcp.DstPort(), tcp.Seq(), tcp.Ack(), tcp.DataOffset(), tcp.Flags(), tcp.Window(), tcp.Checksum())
	}
	eqBytes(t, "Options", tcp.Options(), seg[20:40])
	if tcp.Options()[0] != 2 || tcp.Options()[1] != 4 {
		t.Error("MSS option not first")
	}
	if got := L4Checksum4(ip.Src(), ip.Dst(), IPProtoTCP, seg, TCPChecksumOffset); got != ref.Checksum {
		t.Errorf("L4Checksum4 = %#04x, gopacket %#04x", got, ref.Checksum)
	}

	tcp.SetSrcPort(1)
	tcp.SetDstPort(2)
	tcp.SetSeq(3)
	tcp.SetAck(4)
	tcp.SetFlags(TCPFlagFIN | TCPFlagRST)
	tcp.SetWindow(5)
	tcp.SetChecksum(L4Checksum4(ip.Src(), ip.Dst(), IPProtoTCP, seg, TCPChecksumOffset))
	d := decode(t, frame).Layer(layers.LayerTypeTCP).(*layers.TCP)
	if d.SrcPort != 1 || d.DstPort != 2 || d.Seq != 3 || d.Ack != 4 || !d.FIN || !d.RST || d.SYN || d.ACK || d.ECE || d.CWR || d.URG || d.PSH ||
		d.Window != 5 || len(d.Options) != 5 {
		t.Fatalf("gopacket sees %+v", d)
	}
	if err := d.SetNetworkLayerForChecksum(decode(t, frame).NetworkLayer()); err != nil {
		t.Fatal(err)
	}
	if err, r := d.VerifyChecksum(); err != nil || !r.Valid {
		t.Errorf("gopacket checksum verification: %v %+v", err, r)
	}
}

func TestTCPIsValid(t *testing.T) {
	frame, _ := tcpOptFrame(t)
	seg := append([]byte(nil), IPv4(frame[14:]).Payload()...)
	for n := 0; n <= len(seg); n++ {
		want := n >= 40
		if got := TCP(seg).IsValid(n); got != want {
			t.Errorf("IsValid(%d) = %v", n, got)
		}
		if got := TCP(seg[:n]).IsValid(len(seg)); got != want {
			t.Errorf("TCP(seg[:%d]).IsValid = %v", n, got)
		}
	}
	for off := 0; off < 16; off++ {
		seg[12] = byte(off<<4) | seg[12]&0xf
		want := off >= 5 && off*4 <= len(seg)
		if got := TCP(seg).IsValid(len(seg)); got != want {
			t.Errorf("data offset %d: %v", off, got)
		}
		if got := TCP(seg).IsValid(off*4 - 1); got {
			t.Errorf("data offset %d with n=%d accepted", off, off*4-1)
		}
	}
}

func udpFrame(t testing.TB, payload []byte) ([]byte, *layers.UDP) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 9, 8, 7}, DstIP: net.IP{172, 16, 0, 1}}
	udp := &layers.UDP{SrcPort: 53, DstPort: 33333}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth, ip, udp, gopacket.Payload(payload)), udp
}

func TestUDP(t *testing.T) {
	frame, ref := udpFrame(t, []byte("odd-length!"))
	ip := IPv4(frame[14:])
	u := UDP(ip.Payload())
	if !u.IsValid(len(u)) {
		t.Fatal("invalid")
	}
	if u.SrcPort() != 53 || u.DstPort() != 33333 || u.Length() != 19 || u.Checksum() != ref.Checksum {
		t.Fatalf("fields %d %d %d %#x", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum())
	}
	eqBytes(t, "Payload", u.Payload(), []byte("odd-length!"))
	if got := L4Checksum4(ip.Src(), ip.Dst(), IPProtoUDP, u, UDPChecksumOffset); got != ref.Checksum {
		t.Errorf("L4Checksum4 = %#04x, gopacket %#04x", got, ref.Checksum)
	}
	u.SetSrcPort(1000)
	u.SetDstPort(2000)
	u.SetLength(u.Length())
	u.SetChecksum(0)
	d := &layers.UDP{}
	if err := d.DecodeFromBytes(u, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.SrcPort != 1000 || d.DstPort != 2000 || d.Length != 19 || d.Checksum != 0 {
		t.Fatalf("gopacket sees %+v", d)
	}

	b := make([]byte, 12)
	UDP(b).Encode(7, 8, 12, 0xabcd)
	d = &layers.UDP{}
	if err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.SrcPort != 7 || d.DstPort != 8 || d.Length != 12 || d.Checksum != 0xabcd {
		t.Fatalf("Encode: gopacket sees %+v", d)
	}
}

func TestUDPIsValid(t *testing.T) {
	b := make([]byte, 20)
	u := UDP(b)
	u.Encode(1, 2, 20, 0)
	for n := 0; n <= 20; n++ {
		if got := u.IsValid(n); got != (n == 20) {
			t.Errorf("IsValid(%d) = %v", n, got)
		}
		if got := u[:n].IsValid(100); got != (n == 20) {
			t.Errorf("u[:%d].IsValid = %v", n, got)
		}
	}
	for l := 0; l <= 25; l++ {
		u.SetLength(uint16(l))
		if got := u.IsValid(20); got != (l >= 8 && l <= 20) {
			t.Errorf("length %d: %v", l, got)
		}
	}
	u.SetLength(8)
	if !u.IsValid(8) || len(u.Payload()) != 0 {
		t.Error("empty datagram")
	}
}

func TestL4Checksum6UDP(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("2001:db8::10"), DstIP: net.ParseIP("2001:db8::20")}
	udp := &layers.UDP{SrcPort: 4789, DstPort: 4789}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	frame := serialize(t, eth, ip, udp, gopacket.Payload([]byte{1, 2, 3}))
	p := IPv6(frame[14:])
	proto, off, res := p.SkipExtensions()
	if res != ExtOK || proto != IPProtoUDP {
		t.Fatal("skip")
	}
	u := UDP(p[off:])
	if got := L4Checksum6(p.Src(), p.Dst(), IPProtoUDP, u[:u.Length()], UDPChecksumOffset); got != udp.Checksum || got != u.Checksum() {
		t.Errorf("L4Checksum6 = %#04x, gopacket %#04x", got, udp.Checksum)
	}
}
