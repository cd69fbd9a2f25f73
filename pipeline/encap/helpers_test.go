package encap

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/pipeline/header"
)

// headroom is the pipeline's usual headroom before a received frame.
const headroom = 128

var (
	clientMAC = header.MAC{0x02, 0xc1, 0, 0, 0, 0x01}
	lbMAC     = header.MAC{0x02, 0x1b, 0, 0, 0, 0x02}
	portMAC   = header.MAC{0x02, 0x1b, 0, 0, 0, 0x03}

	client4 = [4]byte{198, 51, 100, 7}
	vip4    = [4]byte{203, 0, 113, 10}
	lb4     = [4]byte{10, 1, 0, 1}
	rs4     = [4]byte{10, 1, 0, 20}

	client6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xc1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07}
	vip6    = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a}
	lb6     = [16]byte{0xfd, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x01}
	rs6     = [16]byte{0xfd, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x14}

	testOuter4 = Outer{Src4: lb4, Dst4: rs4}
	testOuter6 = Outer{Src6: lb6, Dst6: rs6, V6: true}
)

const testGUEPort = 6080

// pkt describes an inner packet to build with gopacket.
type pkt struct {
	v6      bool
	udp     bool
	vlan    bool
	df      bool   // IPv4 only
	tos     uint8  // IPv4 TOS or IPv6 traffic class
	payload int    // L4 payload bytes
	opts    []byte // IPv4 options (a multiple of 4 bytes)
	pad     int    // Ethernet padding after the IP packet
	src4    [4]byte
	src6    [16]byte
	proto   uint8 // when not 0: this protocol with a raw payload instead of TCP/UDP
}

// build serializes p as an Ethernet frame and returns it and the offset of
// its IP header.
func build(t testing.TB, p pkt) ([]byte, int) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(clientMAC[:]), DstMAC: net.HardwareAddr(lbMAC[:])}
	ls := []gopacket.SerializableLayer{eth}
	et := layers.EthernetTypeIPv4
	if p.v6 {
		et = layers.EthernetTypeIPv6
	}
	l3 := 14
	if p.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{Priority: 5, VLANIdentifier: 100, Type: et})
		l3 = 18
	} else {
		eth.EthernetType = et
	}
	var nl gopacket.NetworkLayer
	proto := layers.IPProtocolTCP
	if p.udp {
		proto = layers.IPProtocolUDP
	}
	if p.proto != 0 {
		proto = layers.IPProtocol(p.proto)
	}
	if p.v6 {
		src := p.src6
		if src == ([16]byte{}) {
			src = client6
		}
		ip := &layers.IPv6{Version: 6, TrafficClass: p.tos, FlowLabel: 0x12345, NextHeader: proto, HopLimit: 57,
			SrcIP: net.IP(src[:]), DstIP: net.IP(vip6[:])}
		nl = ip
		ls = append(ls, ip)
	} else {
		src := p.src4
		if src == ([4]byte{}) {
			src = client4
		}
		ip := &layers.IPv4{Version: 4, TOS: p.tos, Id: 0xbeef, TTL: 57, Protocol: proto,
			SrcIP: net.IP(src[:]), DstIP: net.IP(vip4[:])}
		if p.df {
			ip.Flags = layers.IPv4DontFragment
		}
		for i := 0; i+4 <= len(p.opts); i += 4 {
			// Each 4-byte chunk is one option: type, length 4, 2 data bytes.
			ip.Options = append(ip.Options, layers.IPv4Option{OptionType: p.opts[i], OptionLength: 4, OptionData: p.opts[i+2 : i+4]})
		}
		nl = ip
		ls = append(ls, ip)
	}
	payload := make([]byte, p.payload)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	switch {
	case p.proto != 0:
	case p.udp:
		u := &layers.UDP{SrcPort: 40000, DstPort: 9999}
		if err := u.SetNetworkLayerForChecksum(nl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, u)
	default:
		tc := &layers.TCP{SrcPort: 40001, DstPort: 443, Seq: 0x01020304, Ack: 0x0a0b0c0d, ACK: true, PSH: true, Window: 502}
		if err := tc.SetNetworkLayerForChecksum(nl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, tc)
	}
	ls = append(ls, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	f := append([]byte(nil), buf.Bytes()...)
	f = append(f, make([]byte, p.pad)...)
	return f, l3
}

// place copies frame into a new buffer after head bytes of headroom and
// with tail bytes after it; headroom and tail are filled with a pattern.
func place(frame []byte, head, tail int) (b []byte, off, n int) {
	b = make([]byte, head+len(frame)+tail)
	for i := range b {
		b[i] = byte(0xa0 + i%7)
	}
	copy(b[head:], frame)
	return b, head, len(frame)
}

// decode parses frame as Ethernet with gopacket, failing on decode errors.
func decode(t testing.TB, frame []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode: %v", el.Error())
	}
	return p
}

// l3Layer returns the first layer after Ethernet and 802.1Q.
func l3Layer(t testing.TB, p gopacket.Packet) gopacket.Layer {
	t.Helper()
	for _, l := range p.Layers() {
		switch l.LayerType() {
		case layers.LayerTypeEthernet, layers.LayerTypeDot1Q:
			continue
		}
		return l
	}
	t.Fatal("no L3 layer")
	return nil
}

// refSum is a naive RFC 1071 sum, one big-endian 16-bit word at a time,
// folded, not complemented: the oracle for every checksum test here.
func refSum(b []byte) uint16 {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// sumValid reports whether data including its checksum field sums to all
// ones.
func sumValid(data ...[]byte) bool {
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	return refSum(all) == 0xffff
}

func pseudo4(src, dst [4]byte, proto uint8, n int) []byte {
	b := append(append([]byte(nil), src[:]...), dst[:]...)
	return append(b, 0, proto, byte(n>>8), byte(n))
}

func pseudo6(src, dst [16]byte, proto uint8, n int) []byte {
	b := append(append([]byte(nil), src[:]...), dst[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return append(b, 0, 0, 0, proto)
}

// refL4 computes from scratch the checksum of seg (TCP or UDP over IPv4)
// with its checksum field at csumOff taken as zero; UDP's computed 0 is
// returned as 0xFFFF.
func refL4(src, dst [4]byte, proto uint8, seg []byte, csumOff int) uint16 {
	s := append([]byte(nil), seg...)
	s[csumOff], s[csumOff+1] = 0, 0
	ck := ^refSum(append(pseudo4(src, dst, proto, len(seg)), s...))
	if ck == 0 && proto == header.IPProtoUDP {
		ck = 0xffff
	}
	return ck
}

func eqBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s differ:\n got % x\nwant % x", what, got, want)
	}
}

func ip4of(b net.IP) [4]byte   { return [4]byte(b.To4()) }
func ip16of(b net.IP) [16]byte { return [16]byte(b.To16()) }
