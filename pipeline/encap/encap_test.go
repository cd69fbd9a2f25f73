package encap

import (
	"bytes"
	"dsrlb/conf"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/pipeline/header"
)

// TestHeadroom: the test buffers' headroom fits the largest outer headers
// (conf.MaxOverhead), as the data plane's mbufs must.
func TestHeadroom(t *testing.T) {
	if conf.MaxOverhead > headroom {
		t.Fatalf("conf.MaxOverhead %d exceeds the headroom %d", conf.MaxOverhead, headroom)
	}
}

// encapCase is one combination of the golden test.
type encapCase struct {
	m               conf.Method
	outerV6, inner6 bool
	udp, vlan       bool
}

func (c encapCase) String() string {
	s := fmt.Sprintf("%v/outer%d/inner%d", c.m, map[bool]int{false: 4, true: 6}[c.outerV6], map[bool]int{false: 4, true: 6}[c.inner6])
	if c.udp {
		s += "/udp"
	} else {
		s += "/tcp"
	}
	if c.vlan {
		s += "/vlan"
	}
	return s
}

func TestEncapGolden(t *testing.T) {
	const hash = 0x9e3779b97f4a7c15
	for _, m := range []conf.Method{conf.MethodIPIP, conf.MethodGRE, conf.MethodGUE} {
		for _, outerV6 := range []bool{false, true} {
			for _, inner6 := range []bool{false, true} {
				for _, udp := range []bool{false, true} {
					for _, vlan := range []bool{false, true} {
						c := encapCase{m, outerV6, inner6, udp, vlan}
						t.Run(c.String(), func(t *testing.T) { testEncapGolden(t, c, hash) })
					}
				}
			}
		}
	}
}

func testEncapGolden(t *testing.T, c encapCase, hash uint64) {
	p := pkt{v6: c.inner6, udp: c.udp, vlan: c.vlan, df: !c.udp, tos: 0xb9, payload: 100}
	if c.udp {
		p.tos = 0x02 // ECT(0)
		p.pad = 3    // trailing link-layer padding, to be dropped
	}
	frame, l3 := build(t, p)
	innerLen := len(frame) - l3 - p.pad
	inner := append([]byte(nil), frame[l3:l3+innerLen]...)
	b, off, n := place(frame, headroom, 16)
	orig := append([]byte(nil), b...)
	o := &testOuter4
	if c.outerV6 {
		o = &testOuter6
	}
	newOff, newN, ok := Encap(b, off, n, l3, c.inner6, c.m, o, hash, testGUEPort)
	if c.m == conf.MethodIPIP && c.inner6 && !c.outerV6 {
		if ok || newOff != off || newN != n || !bytes.Equal(b, orig) {
			t.Fatalf("IPv6 in IPv4 ipip accepted: %v %d %d", ok, newOff, newN)
		}
		return
	}
	if !ok {
		t.Fatal("Encap failed")
	}
	hdr := c.m.Overhead(c.outerV6)
	if newOff != off-hdr || newN != l3+hdr+innerLen {
		t.Fatalf("newOff %d newN %d, want %d %d", newOff, newN, off-hdr, l3+hdr+innerLen)
	}
	// Nothing written outside the new frame.
	eqBytes(t, "bytes before the frame", b[:newOff], orig[:newOff])
	eqBytes(t, "bytes after the frame", b[newOff+newN:], orig[newOff+newN:])

	out := b[newOff : newOff+newN]
	pk := decode(t, out)
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	outerEt := layers.EthernetTypeIPv4
	if c.outerV6 {
		outerEt = layers.EthernetTypeIPv6
	}
	if header.MAC(eth.SrcMAC) != clientMAC || header.MAC(eth.DstMAC) != lbMAC {
		t.Errorf("MACs changed: %v %v", eth.SrcMAC, eth.DstMAC)
	}
	if c.vlan {
		q, _ := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if eth.EthernetType != layers.EthernetTypeDot1Q || q == nil || q.VLANIdentifier != 100 || q.Priority != 5 || q.Type != outerEt {
			t.Fatalf("VLAN: eth type %v, tag %+v", eth.EthernetType, q)
		}
	} else if eth.EthernetType != outerEt {
		t.Fatalf("EtherType %v, want %v", eth.EthernetType, outerEt)
	}
	if et, l3b, ok := header.ParseL2(out); !ok || l3b != l3 || et != uint16(outerEt) {
		t.Fatalf("ParseL2 of result: %#x %d %v", et, l3b, ok)
	}

	var proto layers.IPProtocol
	switch {
	case c.m == conf.MethodGRE:
		proto = layers.IPProtocolGRE
	case c.m == conf.MethodGUE:
		proto = layers.IPProtocolUDP
	case c.inner6:
		proto = layers.IPProtocolIPv6
	default:
		proto = layers.IPProtocolIPv4
	}
	var outerPayload []byte
	outerHdr := out[l3 : l3+hdr]
	switch ip := l3Layer(t, pk).(type) {
	case *layers.IPv4:
		if c.outerV6 {
			t.Fatal("IPv4 outer header, want IPv6")
		}
		wantFlags := layers.IPv4DontFragment
		wantID := uint16(0xbeef)
		if c.inner6 {
			wantID = 0
		} else if c.udp {
			wantFlags = 0
		}
		if ip.Version != 4 || ip.IHL != 5 || ip.TOS != p.tos || int(ip.Length) != hdr+innerLen || ip.Id != wantID ||
			ip.Flags != wantFlags || ip.FragOffset != 0 || ip.TTL != 64 || ip.Protocol != proto ||
			ip4of(ip.SrcIP) != lb4 || ip4of(ip.DstIP) != rs4 || len(ip.Options) != 0 {
			t.Fatalf("outer IPv4: %+v", ip)
		}
		if !sumValid(outerHdr[:20]) {
			t.Fatalf("outer IPv4 checksum %#04x invalid", ip.Checksum)
		}
		outerPayload = ip.Payload
	case *layers.IPv6:
		if !c.outerV6 {
			t.Fatal("IPv6 outer header, want IPv4")
		}
		if ip.Version != 6 || ip.TrafficClass != p.tos || ip.FlowLabel != FlowLabel(hash) || ip.FlowLabel == 0 ||
			int(ip.Length) != hdr-40+innerLen || ip.NextHeader != proto || ip.HopLimit != 64 ||
			ip16of(ip.SrcIP) != lb6 || ip16of(ip.DstIP) != rs6 {
			t.Fatalf("outer IPv6: %+v", ip)
		}
		outerPayload = ip.Payload
	default:
		t.Fatalf("outer layer %v", ip.LayerType())
	}

	innerEt := layers.EthernetTypeIPv4
	if c.inner6 {
		innerEt = layers.EthernetTypeIPv6
	}
	var got []byte
	switch c.m {
	case conf.MethodIPIP:
		got = outerPayload
	case conf.MethodGRE:
		g, _ := pk.Layer(layers.LayerTypeGRE).(*layers.GRE)
		if g == nil {
			t.Fatal("no GRE layer")
		}
		if g.ChecksumPresent || g.RoutingPresent || g.KeyPresent || g.SeqPresent || g.StrictSourceRoute || g.AckPresent ||
			g.RecursionControl != 0 || g.Flags != 0 || g.Version != 0 || g.Protocol != innerEt {
			t.Fatalf("GRE: %+v", g)
		}
		eqBytes(t, "GRE header", outerPayload[:4], []byte{0, 0, byte(innerEt >> 8), byte(innerEt)})
		got = g.Payload
	case conf.MethodGUE:
		u, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u == nil {
			t.Fatal("no UDP layer")
		}
		if int(u.SrcPort) != 49152+int(hash%16384) || u.DstPort != testGUEPort || int(u.Length) != 8+innerLen {
			t.Fatalf("UDP: %+v", u)
		}
		seg := outerPayload[:8+innerLen]
		if c.outerV6 {
			if u.Checksum == 0 || !sumValid(pseudo6(lb6, rs6, header.IPProtoUDP, len(seg)), seg) {
				t.Fatalf("UDP checksum %#04x invalid", u.Checksum)
			}
		} else if u.Checksum != 0 {
			t.Fatalf("UDP checksum over IPv4 %#04x, want 0", u.Checksum)
		}
		got = u.Payload
	}
	eqBytes(t, "inner packet", got, inner)
	eqBytes(t, "inner packet in place", out[l3+hdr:], inner)
	// The inner packet decodes (gopacket does not know GUE, so it is
	// decoded on its own).
	if c.m == conf.MethodGUE {
		first := layers.LayerTypeIPv4
		if c.inner6 {
			first = layers.LayerTypeIPv6
		}
		pk = gopacket.NewPacket(got, first, gopacket.Default)
		if el := pk.ErrorLayer(); el != nil {
			t.Fatalf("inner decode: %v", el.Error())
		}
	}
	if c.udp && pk.Layer(layers.LayerTypeUDP) == nil || !c.udp && pk.Layer(layers.LayerTypeTCP) == nil {
		t.Fatal("inner L4 not decoded")
	}
}

// TestEncapOverheadEdges checks the headroom limit for each combination:
// one byte short fails and leaves the buffer alone, exactly enough works.
func TestEncapHeadroom(t *testing.T) {
	for _, m := range []conf.Method{conf.MethodIPIP, conf.MethodGRE, conf.MethodGUE} {
		for _, o := range []*Outer{&testOuter4, &testOuter6} {
			for _, inner6 := range []bool{false, true} {
				if m == conf.MethodIPIP && inner6 && !o.V6 {
					continue
				}
				frame, l3 := build(t, pkt{v6: inner6, vlan: inner6, payload: 10})
				hdr := m.Overhead(o.V6)
				b, off, n := place(frame, hdr-1, 0)
				orig := append([]byte(nil), b...)
				if no, nn, ok := Encap(b, off, n, l3, inner6, m, o, 1, testGUEPort); ok || no != off || nn != n || !bytes.Equal(b, orig) {
					t.Fatalf("%v v6=%v inner6=%v: headroom %d accepted or buffer changed", m, o.V6, inner6, hdr-1)
				}
				b, off, n = place(frame, hdr, 0)
				if no, nn, ok := Encap(b, off, n, l3, inner6, m, o, 1, testGUEPort); !ok || no != 0 || nn != len(b) {
					t.Fatalf("%v v6=%v inner6=%v: headroom %d: %d %d %v", m, o.V6, inner6, hdr, no, nn, ok)
				}
			}
		}
	}
}

func TestEncapRefuses(t *testing.T) {
	frame4, l3 := build(t, pkt{payload: 20})
	frame6, _ := build(t, pkt{v6: true, payload: 20})
	tagged, l3v := build(t, pkt{vlan: true, payload: 20})
	short := append([]byte(nil), frame4...)
	binary.BigEndian.PutUint16(short[l3+2:], uint16(len(short)-l3+1)) // Total Length past the frame
	badVer := append([]byte(nil), frame4...)
	badVer[l3] = 0x65

	for _, c := range []struct {
		name    string
		frame   []byte
		l3      int
		inner6  bool
		m       conf.Method
		o       *Outer
		guePort uint16
		headLen int
	}{
		{"invalid method", frame4, l3, false, 0, &testOuter4, testGUEPort, headroom},
		{"method past the last", frame4, l3, false, conf.MethodGUE + 1, &testOuter4, testGUEPort, headroom},
		{"l2dsr does not tunnel", frame4, l3, false, conf.MethodL2DSR, &testOuter4, testGUEPort, headroom},
		{"dscp does not tunnel", frame4, l3, false, conf.MethodDSCP, &testOuter4, testGUEPort, headroom},
		{"nil outer", frame4, l3, false, conf.MethodIPIP, nil, testGUEPort, headroom},
		{"gue port 0", frame4, l3, false, conf.MethodGUE, &testOuter4, 0, headroom},
		{"ipv6 in ipv4 ipip", frame6, l3, true, conf.MethodIPIP, &testOuter4, 0, headroom},
		{"inner version flag wrong (v4 frame)", frame4, l3, true, conf.MethodGRE, &testOuter4, 0, headroom},
		{"inner version flag wrong (v6 frame)", frame6, l3, false, conf.MethodGRE, &testOuter4, 0, headroom},
		{"l3 18 on untagged frame", frame4, 18, false, conf.MethodGRE, &testOuter4, 0, headroom},
		{"l3 14 on tagged frame", tagged, 14, false, conf.MethodGRE, &testOuter4, 0, headroom},
		{"l3 0", frame4, 0, false, conf.MethodGRE, &testOuter4, 0, headroom},
		{"l3 negative", frame4, -4, false, conf.MethodGRE, &testOuter4, 0, headroom},
		{"total length past frame", short, l3, false, conf.MethodGUE, &testOuter6, testGUEPort, headroom},
		{"version nibble", badVer, l3, false, conf.MethodGUE, &testOuter6, testGUEPort, headroom},
		{"truncated ethernet", frame4[:13], l3, false, conf.MethodGRE, &testOuter4, 0, headroom},
		{"truncated tag", tagged[:17], l3v, false, conf.MethodGRE, &testOuter4, 0, headroom},
		{"no headroom", frame4, l3, false, conf.MethodGRE, &testOuter4, 0, 0},
	} {
		b, off, n := place(c.frame, c.headLen, 8)
		orig := append([]byte(nil), b...)
		if no, nn, ok := Encap(b, off, n, c.l3, c.inner6, c.m, c.o, 7, c.guePort); ok || no != off || nn != n || !bytes.Equal(b, orig) {
			t.Errorf("%s: accepted (%v) or changed the buffer", c.name, ok)
		}
	}
	// Frame bounds outside b.
	b, off, n := place(frame4, headroom, 0)
	for _, bad := range [][2]int{{off, n + 1}, {-1, n}, {off, -1}, {len(b) + 1, 0}} {
		if _, _, ok := Encap(b, bad[0], bad[1], l3, false, conf.MethodGRE, &testOuter4, 0, 0); ok {
			t.Errorf("frame %v of a %d-byte buffer accepted", bad, len(b))
		}
	}
	_ = off
}

// TestEncapMaxLength: the outer packet length is a 16-bit field.
func TestEncapMaxLength(t *testing.T) {
	for _, c := range []struct {
		m       conf.Method
		o       *Outer
		inner6  bool
		maxIn   int // largest inner packet that fits
		payload int
	}{
		{conf.MethodIPIP, &testOuter4, false, 65535 - 20, 0},
		{conf.MethodGUE, &testOuter4, false, 65535 - 28, 0},
		{conf.MethodGRE, &testOuter4, true, 65535 - 24, 0},
		{conf.MethodGUE, &testOuter6, true, 65535 - 8, 0}, // Payload Length excludes the 40-byte header
		{conf.MethodIPIP, &testOuter6, false, 65535, 0},
	} {
		for _, l := range []int{c.maxIn, c.maxIn + 1} {
			if c.inner6 && l-40 > 65535 || !c.inner6 && l > 65535 {
				continue
			}
			frame, l3 := build(t, pkt{v6: c.inner6, udp: true, proto: 253, payload: 8})
			frame = append(frame[:l3], make([]byte, l)...)
			if c.inner6 {
				frame[l3] = 0x60
				binary.BigEndian.PutUint16(frame[l3+4:], uint16(l-40))
			} else {
				frame[l3] = 0x45
				binary.BigEndian.PutUint16(frame[l3+2:], uint16(l))
			}
			b, off, n := place(frame, headroom, 0)
			_, nn, ok := Encap(b, off, n, l3, c.inner6, c.m, c.o, 1, testGUEPort)
			if want := l == c.maxIn; ok != want || ok && nn != l3+c.m.Overhead(c.o.V6)+l {
				t.Errorf("%v outer6=%v inner %d bytes: ok %v (want %v), len %d", c.m, c.o.V6, l, ok, want, nn)
			}
		}
	}
}

func TestGUESourcePort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[uint16]bool{}
	for range 4096 {
		h := r.Uint64()
		p := GUESourcePort(h)
		if p < 49152 || int(p) != 49152+int(h%16384) {
			t.Fatalf("GUESourcePort(%#x) = %d", h, p)
		}
		seen[p] = true
	}
	// 4096 draws from 16384 ports: about 3600 distinct expected.
	if len(seen) < 3000 {
		t.Fatalf("only %d distinct source ports", len(seen))
	}
	for _, h := range []uint64{0, 16383, 16384, ^uint64(0)} {
		if p := GUESourcePort(h); p < 49152 {
			t.Fatalf("GUESourcePort(%#x) = %d", h, p)
		}
	}
	if GUESourcePort(16383) != 65535 || GUESourcePort(16384) != 49152 {
		t.Fatal("range ends")
	}

	// Through Encap: the packets of different flows leave from different
	// ports, the same flow always from the same.
	frame, l3 := build(t, pkt{payload: 10})
	ports := map[uint16]bool{}
	for i := range 64 {
		h := uint64(i) * 0x9e3779b97f4a7c15
		for range 2 {
			b, off, n := place(frame, headroom, 0)
			no, _, ok := Encap(b, off, n, l3, false, conf.MethodGUE, &testOuter4, h, testGUEPort)
			if !ok {
				t.Fatal("Encap")
			}
			u := header.UDP(b[no+l3+20:])
			if u.SrcPort() != GUESourcePort(h) || u.SrcPort() < 49152 || u.DstPort() != testGUEPort {
				t.Fatalf("ports %d -> %d", u.SrcPort(), u.DstPort())
			}
			ports[u.SrcPort()] = true
		}
	}
	if len(ports) < 60 {
		t.Fatalf("64 flows used %d source ports", len(ports))
	}
}

func TestFlowLabel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[uint32]bool{}
	for range 4096 {
		fl := FlowLabel(r.Uint64())
		if fl == 0 || fl > 0xfffff {
			t.Fatalf("flow label %#x", fl)
		}
		seen[fl] = true
	}
	if len(seen) < 4000 {
		t.Fatalf("only %d distinct labels", len(seen))
	}
	// 0x100001: the low slice 1 and the second slice 1 cancel out; 0 is
	// replaced by 1.
	if FlowLabel(0) != 1 || FlowLabel(1) != 1 || FlowLabel(0x100001) != 1 || FlowLabel(0x100002) != 3 {
		t.Fatalf("FlowLabel corner cases: %#x %#x %#x", FlowLabel(0), FlowLabel(1), FlowLabel(0x100001))
	}
	// Each of the three slices matters.
	for _, h := range []uint64{1 << 3, 1 << 23, 1 << 43} {
		if FlowLabel(h) != 1<<3 {
			t.Fatalf("FlowLabel(%#x) = %#x", h, FlowLabel(h))
		}
	}
}

// TestEncapPadding: a minimum-size frame padded by the link layer; the
// padding is not carried in the tunnel.
func TestEncapPadding(t *testing.T) {
	// gopacket pads the frame to the 60-byte minimum.
	frame, l3 := build(t, pkt{udp: true, payload: 2})
	innerLen := l3 + 20 + 8 + 2
	if len(frame) != 60 || int(header.IPv4(frame[l3:]).TotalLen()) != innerLen-l3 {
		t.Fatalf("setup: %d bytes", len(frame))
	}
	innerLen -= l3
	b, off, n := place(frame, headroom, 0)
	no, nn, ok := Encap(b, off, n, l3, false, conf.MethodGRE, &testOuter4, 0, 0)
	if !ok || nn != l3+24+innerLen {
		t.Fatalf("ok %v len %d, want %d", ok, nn, l3+24+innerLen)
	}
	ip := header.IPv4(b[no+l3:])
	if int(ip.TotalLen()) != 24+innerLen {
		t.Fatalf("outer total length %d", ip.TotalLen())
	}
}

// TestPutIPv4 compares the outer IPv4 header writer with header.IPv4.Encode
// on random field values.
func TestPutIPv4(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	got, want := make([]byte, 20), make([]byte, 20)
	for i := range 20000 {
		tos, proto := uint8(r.Uint32()), uint8(r.Uint32())
		tl, id := uint16(r.Uint32()), uint16(r.Uint32())
		flags := uint8(r.IntN(2)) * header.IPv4FlagDF
		src, dst := [4]byte(randBytes(r, 4)), [4]byte(randBytes(r, 4))
		if i%4 == 0 {
			src, dst = [4]byte{255, 255, 255, 255}, [4]byte{255, 255, 255, 255}
		}
		putIPv4(got, tos, tl, id, flags, proto, src, dst, true)
		header.IPv4(want).Encode(&header.IPv4Fields{TOS: tos, TotalLen: tl, ID: id, Flags: flags, TTL: 64, Protocol: proto, Src: src, Dst: dst})
		if !bytes.Equal(got, want) || !sumValid(got) {
			t.Fatalf("putIPv4 % x, Encode % x", got, want)
		}
	}
}

// The UDP checksum of GUE over IPv6 takes the inner packet's sum from its
// own TCP/UDP checksum when it can; whichever way, the result must verify
// over the bytes on the wire.
func TestGUE6ChecksumVerifies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []pkt{
		{}, {udp: true}, {v6: true}, {v6: true, udp: true}, {proto: header.IPProtoICMP},
		{v6: true, proto: header.IPProtoICMPv6}, {opts: []byte{1, 1, 1, 0}}, {vlan: true, v6: true},
	}
	for i := 0; i < 200; i++ {
		c := cases[i%len(cases)]
		c.payload = rng.IntN(1400)
		c.tos = uint8(rng.IntN(256))
		binary.BigEndian.PutUint64(c.src6[:8], 0x20010db8<<32|rng.Uint64()&0xffffffff)
		binary.BigEndian.PutUint64(c.src6[8:], rng.Uint64())
		c.src4 = [4]byte{198, 51, 100, byte(rng.IntN(256))}
		frame, l3 := build(t, c)
		if i%5 == 4 && !c.v6 {
			// A fragment: no L4 checksum to lean on.
			header.IPv4(frame[l3:]).SetFlagsFragment(0, 185)
		}
		off := 64
		b := make([]byte, off+len(frame))
		copy(b[off:], frame)
		no, nn, ok := Encap(b, off, len(frame), l3, c.v6, conf.MethodGUE, &testOuter6, rng.Uint64(), testGUEPort)
		if !ok {
			t.Fatalf("case %d (%+v): Encap failed", i, c)
		}
		outer := header.IPv6(b[no+l3 : no+nn])
		seg := outer[header.IPv6Len:]
		sum := header.Checksum(seg, header.PseudoHeaderSum6(outer.Src(), outer.Dst(), header.IPProtoUDP, uint32(len(seg))))
		if header.FoldChecksum(sum) != 0 || header.UDP(seg).Checksum() == 0 {
			t.Fatalf("case %d (%+v): outer UDP checksum %#04x does not verify", i, c, header.UDP(seg).Checksum())
		}
	}
}

// TestEncapHW: with the device computing the checksums, EncapHW writes
// exactly Encap's bytes but for the checksums it leaves 0: the outer IPv4
// header's (HWIPv4Checksum), GUE's UDP over IPv6 (HWUDPChecksum); HWFor
// picks the bits an encapsulation uses.
func TestEncapHW(t *testing.T) {
	const hash = 0x9e3779b97f4a7c15
	all := HWIPv4Checksum | HWUDPChecksum
	for _, m := range []conf.Method{conf.MethodIPIP, conf.MethodGRE, conf.MethodGUE} {
		for _, outerV6 := range []bool{false, true} {
			for _, vlan := range []bool{false, true} {
				c := encapCase{m: m, outerV6: outerV6, vlan: vlan}
				t.Run(c.String(), func(t *testing.T) {
					hw := HWFor(all, m, outerV6)
					switch {
					case !outerV6 && hw != HWIPv4Checksum, outerV6 && m == conf.MethodGUE && hw != HWUDPChecksum,
						outerV6 && m != conf.MethodGUE && hw != 0:
						t.Fatalf("HWFor(%v, v6 %v) = %d", m, outerV6, hw)
					}
					frame, l3 := build(t, pkt{vlan: vlan, df: true, payload: 200})
					sw, off, n := place(frame, headroom, 16)
					dev := append([]byte(nil), sw...)
					o := &testOuter4
					if outerV6 {
						o = &testOuter6
					}
					offS, nS, okS := Encap(sw, off, n, l3, false, m, o, hash, testGUEPort)
					offH, nH, okH := EncapHW(dev, off, n, l3, false, m, o, hash, testGUEPort, hw)
					if !okS || !okH || offS != offH || nS != nH {
						t.Fatalf("software %v %d %d, device %v %d %d", okS, offS, nS, okH, offH, nH)
					}
					// The field the device fills, then everything equal.
					var at int
					switch {
					case hw == HWIPv4Checksum:
						at = offH + l3 + 10
					case hw == HWUDPChecksum:
						at = offH + l3 + header.IPv6Len + 6
					default:
						eqBytes(t, "frame", dev, sw)
						return
					}
					if dev[at] != 0 || dev[at+1] != 0 || (sw[at] == 0 && sw[at+1] == 0) {
						t.Fatalf("checksum at %d: device %x, software %x", at-offH, dev[at:at+2], sw[at:at+2])
					}
					dev[at], dev[at+1] = sw[at], sw[at+1]
					eqBytes(t, "frame", dev, sw)
				})
			}
		}
	}
}
