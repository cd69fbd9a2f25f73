package encap

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"dsrlb/pipeline/header"
)

// checkFragNeeded decodes the result of FragNeeded4 and checks every field
// against the original frame.
func checkFragNeeded(t *testing.T, out, orig []byte, l3 int, vlan bool, mtu uint16) {
	t.Helper()
	origIP := header.IPv4(orig[l3:])
	hl := origIP.HeaderLen()
	quote := hl + min(8, int(origIP.TotalLen())-hl)
	if len(out) != l3+28+quote {
		t.Fatalf("length %d, want %d", len(out), l3+28+quote)
	}
	pk := decode(t, out)
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if header.MAC(eth.DstMAC) != header.Ethernet(orig).Src() || header.MAC(eth.SrcMAC) != portMAC {
		t.Errorf("MACs %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	if vlan {
		q, _ := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if eth.EthernetType != layers.EthernetTypeDot1Q || q == nil || q.VLANIdentifier != 100 || q.Type != layers.EthernetTypeIPv4 {
			t.Fatalf("VLAN tag: %v %+v", eth.EthernetType, q)
		}
	} else if eth.EthernetType != layers.EthernetTypeIPv4 {
		t.Fatalf("EtherType %v", eth.EthernetType)
	}
	ip := l3Layer(t, pk).(*layers.IPv4)
	if ip.Version != 4 || ip.IHL != 5 || ip.TOS != 0xc0 || int(ip.Length) != 28+quote || ip.Flags != layers.IPv4DontFragment ||
		ip.FragOffset != 0 || ip.TTL != 64 || ip.Protocol != layers.IPProtocolICMPv4 ||
		ip4of(ip.SrcIP) != vip4 || ip4of(ip.DstIP) != origIP.Src() {
		t.Fatalf("IPv4 %+v", ip)
	}
	if !sumValid(out[l3 : l3+20]) {
		t.Fatal("IPv4 checksum invalid")
	}
	ic, _ := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic == nil {
		t.Fatal("no ICMPv4 layer")
	}
	if ic.TypeCode.Type() != layers.ICMPv4TypeDestinationUnreachable || ic.TypeCode.Code() != layers.ICMPv4CodeFragmentationNeeded ||
		ic.Id != 0 || ic.Seq != mtu {
		t.Fatalf("ICMP %+v", ic)
	}
	if !sumValid(out[l3+20:]) {
		t.Fatal("ICMP checksum invalid")
	}
	eqBytes(t, "quote", ic.Payload, orig[l3:l3+quote])
}

func TestFragNeeded4(t *testing.T) {
	for _, c := range []struct {
		name string
		p    pkt
	}{
		{"tcp", pkt{df: true, payload: 1500}},
		{"tcp vlan", pkt{df: true, vlan: true, payload: 1500}},
		{"udp options vlan", pkt{df: true, udp: true, vlan: true, payload: 1472, opts: []byte{0x94, 4, 0, 0, 0x88, 4, 1, 2, 0x88, 4, 3, 4}}},
		{"short payload", pkt{df: true, proto: 253, payload: 3}},
		{"no payload", pkt{df: true, proto: 253}},
		{"echo request", pkt{df: true, proto: header.IPProtoICMP, payload: 1400}},
	} {
		t.Run(c.name, func(t *testing.T) {
			frame, l3 := build(t, c.p)
			if c.p.proto == header.IPProtoICMP {
				frame[l3+20] = header.ICMPv4EchoRequest
			}
			for _, head := range []int{headroom, 0} {
				b, off, n := place(frame, head, 0)
				orig := append([]byte(nil), b...)
				no, nn, ok := FragNeeded4(b, off, n, l3, vip4, portMAC, 1472)
				if !ok {
					if head == 0 && n < l3+28+68 {
						continue // no room either way; checked in TestFragNeeded4Refuses
					}
					t.Fatalf("headroom %d: refused", head)
				}
				if head > 0 && no != off-28 || head == 0 && no != 0 {
					t.Fatalf("headroom %d: offset %d", head, no)
				}
				checkFragNeeded(t, b[no:no+nn], frame, l3, c.p.vlan, 1472)
				eqBytes(t, "bytes before the frame", b[:no], orig[:no])
			}
		})
	}
}

func TestFragNeeded4Refuses(t *testing.T) {
	mk := func(p pkt, edit func(f []byte, l3 int)) ([]byte, int) {
		p.df = true
		if p.payload == 0 {
			p.payload = 200
		}
		f, l3 := build(t, p)
		if edit != nil {
			edit(f, l3)
			ip := header.IPv4(f[l3:])
			ip.SetChecksum(ip.CalculateChecksum())
		}
		return f, l3
	}
	icmpType := func(typ uint8) func([]byte, int) { return func(f []byte, l3 int) { f[l3+20] = typ } }
	for _, c := range []struct {
		name string
		p    pkt
		edit func([]byte, int)
		l3   int // when not 0, passed instead of the real offset
		head int
	}{
		{"dest unreachable", pkt{proto: header.IPProtoICMP}, icmpType(3), 0, headroom},
		{"source quench", pkt{proto: header.IPProtoICMP}, icmpType(4), 0, headroom},
		{"redirect", pkt{proto: header.IPProtoICMP}, icmpType(5), 0, headroom},
		{"time exceeded", pkt{proto: header.IPProtoICMP}, icmpType(11), 0, headroom},
		{"parameter problem", pkt{proto: header.IPProtoICMP}, icmpType(12), 0, headroom},
		{"unknown ICMP type", pkt{proto: header.IPProtoICMP}, icmpType(42), 0, headroom},
		{"later fragment", pkt{}, func(f []byte, l3 int) { header.IPv4(f[l3:]).SetFlagsFragment(header.IPv4FlagMF, 185) }, 0, headroom},
		{"source 0.x", pkt{src4: [4]byte{0, 1, 2, 3}}, nil, 0, headroom},
		{"source loopback", pkt{src4: [4]byte{127, 0, 0, 1}}, nil, 0, headroom},
		{"source multicast", pkt{src4: [4]byte{224, 0, 0, 5}}, nil, 0, headroom},
		{"source broadcast", pkt{src4: [4]byte{255, 255, 255, 255}}, nil, 0, headroom},
		{"destination multicast", pkt{}, func(f []byte, l3 int) { f[l3+16] = 239 }, 0, headroom},
		{"ethernet broadcast", pkt{}, func(f []byte, l3 int) { copy(f, header.BroadcastMAC[:]) }, 0, headroom},
		{"not IPv4", pkt{}, func(f []byte, l3 int) { f[l3] = 0x55 }, 0, headroom},
		{"IPv6 frame", pkt{v6: true}, nil, 0, headroom},
		{"wrong l3", pkt{}, nil, 18, headroom},
		{"no room", pkt{payload: 10}, nil, 0, 27},
	} {
		f, l3 := mk(c.p, c.edit)
		if c.l3 != 0 {
			l3 = c.l3
		}
		b, off, n := place(f, c.head, 0)
		orig := append([]byte(nil), b...)
		if no, nn, ok := FragNeeded4(b, off, n, l3, vip4, portMAC, 1400); ok || no != off || nn != n || !bytes.Equal(b, orig) {
			t.Errorf("%s: accepted (%v) or changed the buffer", c.name, ok)
		}
	}
	// Bounds.
	f, l3 := mk(pkt{}, nil)
	b, off, n := place(f, headroom, 0)
	for _, bad := range [][2]int{{off, n + 1}, {-1, n}, {off, -1}} {
		if _, _, ok := FragNeeded4(b, bad[0], bad[1], l3, vip4, portMAC, 1400); ok {
			t.Errorf("frame %v accepted", bad)
		}
	}
	// A first fragment is fine.
	f, l3 = mk(pkt{}, func(f []byte, l3 int) { header.IPv4(f[l3:]).SetFlagsFragment(header.IPv4FlagMF, 0) })
	b, off, n = place(f, headroom, 0)
	if _, _, ok := FragNeeded4(b, off, n, l3, vip4, portMAC, 1400); !ok {
		t.Error("first fragment refused")
	}
}

// checkPTB decodes the result of PacketTooBig6 and checks it.
func checkPTB(t *testing.T, out, orig []byte, l3 int, vlan bool, mtu uint32) {
	t.Helper()
	origIP := header.IPv6(orig[l3:])
	pktLen := 40 + int(origIP.PayloadLen())
	quote := min(pktLen, 1232)
	if len(out) != l3+48+quote || len(out)-l3 > 1280 {
		t.Fatalf("length %d, want %d", len(out), l3+48+quote)
	}
	pk := decode(t, out)
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if header.MAC(eth.DstMAC) != header.Ethernet(orig).Src() || header.MAC(eth.SrcMAC) != portMAC {
		t.Errorf("MACs %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	if vlan {
		q, _ := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if eth.EthernetType != layers.EthernetTypeDot1Q || q == nil || q.VLANIdentifier != 100 || q.Type != layers.EthernetTypeIPv6 {
			t.Fatalf("VLAN tag: %v %+v", eth.EthernetType, q)
		}
	} else if eth.EthernetType != layers.EthernetTypeIPv6 {
		t.Fatalf("EtherType %v", eth.EthernetType)
	}
	ip := l3Layer(t, pk).(*layers.IPv6)
	dst := origIP.Src()
	if ip.Version != 6 || ip.TrafficClass != 0 || ip.FlowLabel != 0 || int(ip.Length) != 8+quote ||
		ip.NextHeader != layers.IPProtocolICMPv6 || ip.HopLimit != 64 || ip16of(ip.SrcIP) != vip6 || ip16of(ip.DstIP) != dst {
		t.Fatalf("IPv6 %+v", ip)
	}
	ic, _ := pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if ic == nil {
		t.Fatal("no ICMPv6 layer")
	}
	if ic.TypeCode.Type() != layers.ICMPv6TypePacketTooBig || ic.TypeCode.Code() != 0 {
		t.Fatalf("ICMPv6 %v", ic.TypeCode)
	}
	msg := out[l3+40:]
	if got := binary.BigEndian.Uint32(msg[4:]); got != mtu {
		t.Fatalf("MTU %d, want %d", got, mtu)
	}
	if !sumValid(pseudo6(vip6, dst, header.IPProtoICMPv6, len(msg)), msg) {
		t.Fatal("ICMPv6 checksum invalid")
	}
	eqBytes(t, "quote", msg[8:], orig[l3:l3+quote])
}

func TestPacketTooBig6(t *testing.T) {
	for _, c := range []struct {
		name string
		p    pkt
	}{
		{"tcp 1500", pkt{v6: true, payload: 1500 - 60}},
		{"tcp 1500 vlan", pkt{v6: true, vlan: true, payload: 1500 - 60}},
		{"udp jumbo", pkt{v6: true, udp: true, payload: 9000 - 48}},
		{"exactly 1232", pkt{v6: true, udp: true, payload: 1232 - 48}},
		{"1233", pkt{v6: true, udp: true, payload: 1233 - 48}},
		{"small", pkt{v6: true, udp: true, vlan: true, payload: 100}},
		{"echo request", pkt{v6: true, proto: header.IPProtoICMPv6, payload: 1400}},
	} {
		t.Run(c.name, func(t *testing.T) {
			frame, l3 := build(t, c.p)
			if c.p.proto == header.IPProtoICMPv6 {
				frame[l3+40] = header.ICMPv6EchoRequest
			}
			for _, head := range []int{headroom, 0} {
				b, off, n := place(frame, head, 0)
				orig := append([]byte(nil), b...)
				no, nn, ok := PacketTooBig6(b, off, n, l3, vip6, portMAC, 1452)
				if !ok {
					if head == 0 && n-l3 < 1280 {
						continue // no room either way
					}
					t.Fatalf("headroom %d: refused", head)
				}
				if head > 0 && no != off-48 || head == 0 && no != 0 {
					t.Fatalf("headroom %d: offset %d", head, no)
				}
				checkPTB(t, b[no:no+nn], frame, l3, c.p.vlan, 1452)
				eqBytes(t, "bytes before the frame", b[:no], orig[:no])
				if head > 0 {
					eqBytes(t, "bytes after the frame", b[no+nn:], orig[no+nn:])
				}
			}
		})
	}
}

func TestPacketTooBig6Refuses(t *testing.T) {
	mk := func(p pkt, edit func(f []byte, l3 int)) ([]byte, int) {
		p.v6 = true
		if p.payload == 0 {
			p.payload = 200
		}
		f, l3 := build(t, p)
		if edit != nil {
			edit(f, l3)
		}
		return f, l3
	}
	icmpType := func(typ uint8) func([]byte, int) { return func(f []byte, l3 int) { f[l3+40] = typ } }
	hopByHop := func(typ uint8) func([]byte, int) {
		// Insert an 8-byte hop-by-hop header (padding only) before the
		// ICMPv6 message.
		return func(f []byte, l3 int) {
			ip := header.IPv6(f[l3:])
			copy(f[l3+48:], f[l3+40:len(f)-8])
			copy(f[l3+40:], []byte{header.IPProtoICMPv6, 0, 1, 4, 0, 0, 0, 0})
			ip.SetNextHeader(header.IPv6HopByHop)
			f[l3+48] = typ
		}
	}
	mcast := [16]byte{0xff, 0x02, 15: 1}
	for _, c := range []struct {
		name string
		p    pkt
		edit func([]byte, int)
		l3   int
		head int
	}{
		{"dest unreachable", pkt{proto: header.IPProtoICMPv6}, icmpType(1), 0, headroom},
		{"packet too big", pkt{proto: header.IPProtoICMPv6}, icmpType(2), 0, headroom},
		{"time exceeded", pkt{proto: header.IPProtoICMPv6}, icmpType(3), 0, headroom},
		{"error type 127", pkt{proto: header.IPProtoICMPv6}, icmpType(127), 0, headroom},
		{"error behind hop-by-hop", pkt{proto: header.IPProtoICMPv6}, hopByHop(1), 0, headroom},
		{"source unspecified", pkt{}, func(f []byte, l3 int) { clear(f[l3+8 : l3+24]) }, 0, headroom},
		{"source loopback", pkt{}, func(f []byte, l3 int) { clear(f[l3+8 : l3+24]); f[l3+23] = 1 }, 0, headroom},
		{"source multicast", pkt{src6: mcast}, nil, 0, headroom},
		{"not IPv6", pkt{}, func(f []byte, l3 int) { f[l3] = 0x45 }, 0, headroom},
		{"payload length past frame", pkt{}, func(f []byte, l3 int) { f[l3+4] = 0xff }, 0, headroom},
		{"IPv4 frame", pkt{v6: false}, nil, 0, headroom},
		{"wrong l3", pkt{}, nil, 18, headroom},
		{"no room", pkt{payload: 10}, nil, 0, 47},
	} {
		var f []byte
		var l3 int
		if c.name == "IPv4 frame" {
			f, l3 = build(t, pkt{payload: 200})
		} else {
			f, l3 = mk(c.p, c.edit)
		}
		if c.l3 != 0 {
			l3 = c.l3
		}
		b, off, n := place(f, c.head, 0)
		orig := append([]byte(nil), b...)
		if no, nn, ok := PacketTooBig6(b, off, n, l3, vip6, portMAC, 1400); ok || no != off || nn != n || !bytes.Equal(b, orig) {
			t.Errorf("%s: accepted (%v) or changed the buffer", c.name, ok)
		}
	}
	// Allowed: echo behind a hop-by-hop header, a multicast destination.
	for name, edit := range map[string]func([]byte, int){
		"echo behind hop-by-hop": hopByHop(header.ICMPv6EchoRequest),
		"multicast destination": func(f []byte, l3 int) {
			f[l3+24] = 0xff
			f[l3+40] = header.ICMPv6EchoReply
		},
	} {
		f, l3 := mk(pkt{proto: header.IPProtoICMPv6}, edit)
		b, off, n := place(f, headroom, 0)
		if no, nn, ok := PacketTooBig6(b, off, n, l3, vip6, portMAC, 1400); !ok {
			t.Errorf("%s refused", name)
		} else {
			checkPTB(t, b[no:no+nn], f, l3, false, 1400)
		}
	}
}
