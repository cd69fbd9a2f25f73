package header

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ipv4OptFrame is Ethernet + IPv4 with a Router Alert option (IHL 6) + TCP.
func ipv4OptFrame(t testing.TB) ([]byte, *layers.IPv4) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{
		Version: 4, TOS: 0xb9, Id: 0xbeef, Flags: layers.IPv4DontFragment, TTL: 61, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP{198, 51, 100, 7}, DstIP: net.IP{203, 0, 113, 9},
		Options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}},
	}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1, Ack: 2, SYN: true, Window: 1000}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth, ip, tcp, gopacket.Payload([]byte("hello"))), ip
}

func TestIPv4Accessors(t *testing.T) {
	frame, ref := ipv4OptFrame(t)
	et, off, ok := ParseL2(frame)
	if !ok || et != EtherTypeIPv4 || off != 14 {
		t.Fatal("ParseL2")
	}
	ip := IPv4(frame[off:])
	if !ip.IsValid(len(ip)) {
		t.Fatal("not valid")
	}
	if ref.IHL != 6 {
		t.Fatalf("test setup: IHL %d", ref.IHL)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("HeaderLen", ip.HeaderLen(), 24)
	check("TotalLen", ip.TotalLen(), ref.Length)
	check("TOS", ip.TOS(), ref.TOS)
	check("DSCP", ip.DSCP(), ref.TOS>>2)
	check("ECN", ip.ECN(), ref.TOS&3)
	check("ID", ip.ID(), ref.Id)
	check("Flags", ip.Flags(), uint8(ref.Flags))
	check("DontFragment", ip.DontFragment(), true)
	check("MoreFragments", ip.MoreFragments(), false)
	check("FragmentOffset", ip.FragmentOffset(), ref.FragOffset)
	check("IsFragment", ip.IsFragment(), false)
	check("TTL", ip.TTL(), ref.TTL)
	check("Protocol", ip.Protocol(), uint8(IPProtoTCP))
	check("Checksum", ip.Checksum(), ref.Checksum)
	check("Src", ip.Src(), [4]byte(ref.SrcIP.To4()))
	check("Dst", ip.Dst(), [4]byte(ref.DstIP.To4()))
	check("SrcUint32", ip.SrcUint32(), uint32(0xc6336407))
	check("DstUint32", ip.DstUint32(), uint32(0xcb007109))
	check("CalculateChecksum", ip.CalculateChecksum(), ref.Checksum)
	check("ChecksumValid", ip.ChecksumValid(), true)
	eqBytes(t, "Options", ip.Options(), []byte{0x94, 4, 0, 0})
	eqBytes(t, "Payload", ip.Payload(), frame[off+24:])

	// Ethernet padding after the datagram is not part of the payload.
	padded := append(append([]byte(nil), ip...), make([]byte, 10)...)
	if p := IPv4(padded); !p.IsValid(len(p)) || len(p.Payload()) != int(p.TotalLen())-24 {
		t.Error("padding leaked into Payload")
	}

	ip[ipv4Checksum] ^= 1
	check("ChecksumValid after corruption", ip.ChecksumValid(), false)
	check("CalculateChecksum ignores field", ip.CalculateChecksum(), ref.Checksum)
}

func TestIPv4Setters(t *testing.T) {
	frame, _ := ipv4OptFrame(t)
	ip := IPv4(frame[14:])
	ip.SetTOS(0x2b)
	ip.SetTotalLen(ip.TotalLen()) // unchanged, keep gopacket happy
	ip.SetID(0x1234)
	ip.SetFlagsFragment(IPv4FlagMF, 0x1abc)
	ip.SetTTL(7)
	ip.SetProtocol(IPProtoUDP)
	ip.SetSrc(ip4(10, 1, 2, 3))
	ip.SetDst(ip4(10, 4, 5, 6))
	if ip.ChecksumValid() {
		t.Error("raw setters must not fix the checksum")
	}
	ip.SetChecksum(ip.CalculateChecksum())
	if !ip.ChecksumValid() {
		t.Fatal("checksum not valid after SetChecksum(CalculateChecksum())")
	}
	d := &layers.IPv4{}
	if err := d.DecodeFromBytes(ip, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.TOS != 0x2b || d.Id != 0x1234 || d.Flags != layers.IPv4MoreFragments || d.FragOffset != 0x1abc || d.TTL != 7 ||
		d.Protocol != layers.IPProtocolUDP || !d.SrcIP.Equal(net.IP{10, 1, 2, 3}) || !d.DstIP.Equal(net.IP{10, 4, 5, 6}) || d.IHL != 6 {
		t.Fatalf("gopacket sees %+v", d)
	}
	if !ip.IsFragment() || !ip.MoreFragments() || ip.DontFragment() || ip.FragmentOffset() != 0x1abc || ip.Flags() != IPv4FlagMF {
		t.Error("fragment accessors")
	}
	// gopacket's own checksum of the same header.
	d.Options[0].OptionLength = 4
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, d, gopacket.Payload(d.Payload)); err != nil {
		t.Fatal(err)
	}
	if d.Checksum != ip.Checksum() {
		t.Errorf("gopacket checksum %#04x, ours %#04x", d.Checksum, ip.Checksum())
	}

	// Fragment flag combinations.
	for _, c := range []struct {
		flags uint8
		off   uint16
		frag  bool
	}{{0, 0, false}, {IPv4FlagDF, 0, false}, {4, 0, false}, {IPv4FlagMF, 0, true}, {0, 1, true}, {IPv4FlagDF, 0x1fff, true}, {7, 0xffff, true}} {
		ip.SetFlagsFragment(c.flags, c.off)
		if ip.IsFragment() != c.frag || ip.Flags() != c.flags&7 || ip.FragmentOffset() != c.off&0x1fff {
			t.Errorf("flags %d off %#x: IsFragment %v Flags %d Off %#x", c.flags, c.off, ip.IsFragment(), ip.Flags(), ip.FragmentOffset())
		}
	}
}

func TestIPv4Encode(t *testing.T) {
	b := make([]byte, 40)
	for i := range b {
		b[i] = 0xaa
	}
	ip := IPv4(b)
	f := IPv4Fields{TOS: 0x10, TotalLen: 40, ID: 777, Flags: IPv4FlagDF, FragOff: 0, TTL: 64, Protocol: IPProtoUDP,
		Src: ip4(192, 0, 2, 1), Dst: ip4(192, 0, 2, 200)}
	ip.Encode(&f)
	if !ip.IsValid(len(ip)) || !ip.ChecksumValid() {
		t.Fatal("encoded header invalid")
	}
	d := &layers.IPv4{}
	if err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.Version != 4 || d.IHL != 5 || d.TOS != 0x10 || d.Length != 40 || d.Id != 777 || d.Flags != layers.IPv4DontFragment ||
		d.TTL != 64 || d.Protocol != layers.IPProtocolUDP || !d.SrcIP.Equal(net.IP{192, 0, 2, 1}) || !d.DstIP.Equal(net.IP{192, 0, 2, 200}) {
		t.Fatalf("gopacket sees %+v", d)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, d); err != nil {
		t.Fatal(err)
	}
	eqBytes(t, "header", b[:20], buf.Bytes()[:20])
	if b[20] != 0xaa {
		t.Error("Encode wrote past 20 bytes")
	}
}

func TestIPv4IsValid(t *testing.T) {
	frame, _ := ipv4OptFrame(t)
	pkt := append([]byte(nil), frame[14:]...)
	tl := int(IPv4(pkt).TotalLen())
	for n := 0; n <= len(pkt); n++ {
		want := n >= tl
		if got := IPv4(pkt).IsValid(n); got != want {
			t.Errorf("IsValid(%d) = %v, want %v", n, got, want)
		}
		// Truncated slice with an n that claims more: capped at len.
		if got := IPv4(pkt[:n]).IsValid(len(pkt) + 100); got != want {
			t.Errorf("IPv4(pkt[:%d]).IsValid(big) = %v, want %v", n, got, want)
		}
	}
	if IPv4(pkt).IsValid(-1) {
		t.Error("negative n accepted")
	}
	mod := func(f func(ip IPv4)) IPv4 {
		b := append([]byte(nil), pkt...)
		f(IPv4(b))
		return IPv4(b)
	}
	for ihl := 0; ihl < 5; ihl++ {
		if mod(func(ip IPv4) { ip[0] = 0x40 | byte(ihl) }).IsValid(len(pkt)) {
			t.Errorf("IHL %d accepted", ihl)
		}
	}
	if !mod(func(ip IPv4) { ip[0] = 0x45 }).IsValid(len(pkt)) {
		t.Error("IHL 5 rejected")
	}
	for _, v := range []byte{0, 5, 6, 0xf} {
		if mod(func(ip IPv4) { ip[0] = v<<4 | 6 }).IsValid(len(pkt)) {
			t.Errorf("version %d accepted", v)
		}
	}
	// Total length smaller than the header, larger than n.
	for _, l := range []uint16{0, 19, 20, 23} {
		if mod(func(ip IPv4) { ip.SetTotalLen(l) }).IsValid(len(pkt)) {
			t.Errorf("total length %d < IHL*4 accepted", l)
		}
	}
	if !mod(func(ip IPv4) { ip.SetTotalLen(24) }).IsValid(len(pkt)) {
		t.Error("total length == header length rejected")
	}
	if mod(func(ip IPv4) { ip.SetTotalLen(uint16(len(pkt) + 1)) }).IsValid(len(pkt)) {
		t.Error("total length > n accepted")
	}
	// IHL 15 (60 bytes) with a total length of 40 is invalid.
	if mod(func(ip IPv4) { ip[0] = 0x4f; ip.SetTotalLen(40) }).IsValid(len(pkt)) {
		t.Error("IHL*4 > total length accepted")
	}
}

func TestIPv4DecTTLAtZero(t *testing.T) {
	b := make([]byte, 20)
	ip := IPv4(b)
	ip.Encode(&IPv4Fields{TotalLen: 20, TTL: 1, Protocol: IPProtoTCP})
	ip.DecTTLWithChecksumUpdate()
	if ip.TTL() != 0 || !ip.ChecksumValid() {
		t.Fatalf("TTL %d valid %v", ip.TTL(), ip.ChecksumValid())
	}
	ip.DecTTLWithChecksumUpdate()
	if ip.TTL() != 0 || !ip.ChecksumValid() {
		t.Fatalf("at zero: TTL %d valid %v", ip.TTL(), ip.ChecksumValid())
	}
}
