package encap

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"dsrlb/pipeline/header"
)

func TestDSCPGolden(t *testing.T) {
	for _, udp := range []bool{false, true} {
		for _, vlan := range []bool{false, true} {
			for _, opts := range [][]byte{nil, {0x94, 4, 0, 0, 0x88, 4, 0xab, 0xcd}} {
				p := pkt{udp: udp, vlan: vlan, df: true, tos: 0xbb, payload: 77, opts: opts}
				frame, l3 := build(t, p)
				orig := append([]byte(nil), frame...)
				const code = 42
				if !DSCP(frame, l3, rs4, code) {
					t.Fatal("DSCP failed")
				}
				pk := decode(t, frame)
				ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				if ip4of(ip.DstIP) != rs4 || ip4of(ip.SrcIP) != client4 || ip.TOS != code<<2|0x3 || ip.TTL != 57 ||
					int(ip.IHL) != 5+len(opts)/4 || len(ip.Options) != len(opts)/4 {
					t.Fatalf("IPv4 %+v", ip)
				}
				hl := int(ip.IHL) * 4
				if !sumValid(frame[l3 : l3+hl]) {
					t.Fatal("IPv4 checksum invalid")
				}
				seg := frame[l3+hl : l3+int(ip.Length)]
				proto := uint8(header.IPProtoTCP)
				if udp {
					proto = header.IPProtoUDP
				}
				if !sumValid(pseudo4(client4, rs4, proto, len(seg)), seg) {
					t.Fatal("L4 checksum invalid")
				}
				// Everything but TOS, dst and the checksums is unchanged.
				for _, i := range []int{1, 10, 11, 16, 17, 18, 19} {
					orig[l3+i] = frame[l3+i]
				}
				ck := tcpCsum
				if udp {
					ck = udpCsum
				}
				orig[l3+hl+ck], orig[l3+hl+ck+1] = frame[l3+hl+ck], frame[l3+hl+ck+1]
				eqBytes(t, "other bytes", frame, orig)
			}
		}
	}
}

func TestDSCPUDPZeroChecksum(t *testing.T) {
	frame, l3 := build(t, pkt{udp: true, payload: 30})
	binary.BigEndian.PutUint16(frame[l3+20+6:], 0)
	if !DSCP(frame, l3, rs4, 1) {
		t.Fatal("DSCP failed")
	}
	if ck := binary.BigEndian.Uint16(frame[l3+20+6:]); ck != 0 {
		t.Fatalf("UDP checksum 0 became %#04x", ck)
	}
	if !sumValid(frame[l3 : l3+20]) {
		t.Fatal("IP checksum")
	}
}

func TestDSCPRefuses(t *testing.T) {
	frame, l3 := build(t, pkt{payload: 10})
	for _, c := range []struct {
		name  string
		frame []byte
		l3    int
		code  uint8
	}{
		{"code 0", frame, l3, 0},
		{"code 64", frame, l3, 64},
		{"code 255", frame, l3, 255},
		{"l3 past frame", frame, len(frame) + 1, 1},
		{"l3 negative", frame, -1, 1},
		{"l3 wrong", frame, l3 + 2, 1},
		{"truncated", frame[:l3+30], l3, 1},
		{"tcp too short", tcpShort(frame, l3), l3, 1},
		{"udp too short", udpShort(t), 14, 1},
		{"not IPv4", func() []byte { f := append([]byte(nil), frame...); f[l3] = 0x65; return f }(), l3, 1},
	} {
		orig := append([]byte(nil), c.frame...)
		if DSCP(c.frame, c.l3, rs4, c.code) || !bytes.Equal(c.frame, orig) {
			t.Errorf("%s: accepted or changed", c.name)
		}
	}
	// Codes 1 and 63 are fine.
	for _, code := range []uint8{1, 63} {
		f, l3 := build(t, pkt{payload: 10})
		if !DSCP(f, l3, rs4, code) || header.IPv4(f[l3:]).DSCP() != code {
			t.Errorf("code %d refused", code)
		}
	}
}

// tcpShort returns frame with an IPv4 total length that leaves only 19
// bytes of TCP header.
func tcpShort(frame []byte, l3 int) []byte {
	f := append([]byte(nil), frame[:l3+20+19]...)
	ip := header.IPv4(f[l3:])
	ip.SetTotalLen(39)
	ip.SetChecksum(ip.CalculateChecksum())
	return f
}

func udpShort(t *testing.T) []byte {
	f, l3 := build(t, pkt{udp: true})
	f = f[:l3+27]
	ip := header.IPv4(f[l3:])
	ip.SetTotalLen(27)
	ip.SetChecksum(ip.CalculateChecksum())
	return f
}

// TestDSCPFragments: a first fragment has its L4 checksum updated, a later
// fragment only its IP header.
func TestDSCPFragments(t *testing.T) {
	for _, udp := range []bool{false, true} {
		frame, l3 := build(t, pkt{udp: udp, payload: 40})
		ip := header.IPv4(frame[l3:])
		l4 := append([]byte(nil), ip.Payload()...)
		ip.SetFlagsFragment(header.IPv4FlagMF, 0)
		ip.SetChecksum(ip.CalculateChecksum())
		if !DSCP(frame, l3, rs4, 5) || !ip.ChecksumValid() {
			t.Fatal("first fragment")
		}
		if bytes.Equal(ip.Payload(), l4) {
			t.Fatal("first fragment: L4 checksum not updated")
		}
		frame, l3 = build(t, pkt{udp: udp, payload: 40})
		ip = header.IPv4(frame[l3:])
		ip.SetFlagsFragment(0, 100)
		ip.SetChecksum(ip.CalculateChecksum())
		l4 = append([]byte(nil), ip.Payload()...)
		if !DSCP(frame, l3, rs4, 5) || !ip.ChecksumValid() || ip.Dst() != rs4 {
			t.Fatal("later fragment")
		}
		eqBytes(t, "later fragment payload", ip.Payload(), l4)
	}
}

// TestDSCPRandom compares the incremental updates with checksums computed
// from scratch (by the naive reference sum) over random TCP and UDP packets
// with random options, addresses, ports, TOS and lengths.
func TestDSCPRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(0xd5c9, 42))
	var udpZero, udpFFFF, other int
	for i := range 10000 {
		ihl := 5 + r.IntN(11)
		hl := ihl * 4
		proto := uint8(header.IPProtoTCP)
		l4min := header.TCPMinLen
		switch k := r.IntN(20); {
		case k < 9:
			proto, l4min = header.IPProtoUDP, header.UDPLen
		case k == 19:
			proto, l4min = uint8(r.IntN(256)), 0
			if proto == header.IPProtoTCP || proto == header.IPProtoUDP {
				proto = header.IPProtoICMP
			}
		}
		l4len := l4min + r.IntN(300)
		l3 := 14 + 4*r.IntN(2)
		frame := make([]byte, l3+hl+l4len+r.IntN(4)) // maybe padding
		for j := range frame {
			frame[j] = byte(r.Uint32())
		}
		ip := header.IPv4(frame[l3:])
		frame[l3] = 0x40 | byte(ihl)
		ip.SetTotalLen(uint16(hl + l4len))
		ip.SetFlagsFragment(uint8(r.IntN(2))*header.IPv4FlagDF, 0)
		ip.SetProtocol(proto)
		ip.SetChecksum(0)
		ip.SetChecksum(^refSum(frame[l3 : l3+hl]))
		seg := frame[l3+hl : l3+hl+l4len]
		csumOff := -1
		switch proto {
		case header.IPProtoTCP:
			csumOff = tcpCsum
		case header.IPProtoUDP:
			csumOff = udpCsum
			binary.BigEndian.PutUint16(seg[4:], uint16(l4len))
		}
		if csumOff >= 0 {
			binary.BigEndian.PutUint16(seg[csumOff:], refL4(ip.Src(), ip.Dst(), proto, seg, csumOff))
		}
		zeroUDP := proto == header.IPProtoUDP && i%8 == 0
		if zeroUDP {
			binary.BigEndian.PutUint16(seg[csumOff:], 0)
		}
		dst := [4]byte(randBytes(r, 4))
		if proto == header.IPProtoUDP && i%8 == 1 {
			// A destination for which the checksum computes to 0 and is
			// sent as 0xFFFF: the sum with the new destination must be
			// 0xFFFF.
			var d0 [4]byte
			s := refSum(append(pseudo4(ip.Src(), d0, proto, len(seg)), zeroField(seg, csumOff)...))
			hi := uint16(r.Uint32())
			lo := 0xffff - fold(uint32(s)+uint32(hi))
			binary.BigEndian.PutUint16(dst[0:], hi)
			binary.BigEndian.PutUint16(dst[2:], lo)
		}
		code := uint8(1 + r.IntN(63))
		orig := append([]byte(nil), frame...)
		ecn := ip.ECN()

		if !DSCP(frame, l3, dst, code) {
			t.Fatalf("iter %d: DSCP refused", i)
		}
		if ip.Dst() != dst || ip.DSCP() != code || ip.ECN() != ecn {
			t.Fatalf("iter %d: dst %v DSCP %d ECN %d (was %d)", i, ip.Dst(), ip.DSCP(), ip.ECN(), ecn)
		}
		hdr := append([]byte(nil), frame[l3:l3+hl]...)
		hdr[10], hdr[11] = 0, 0
		if got, want := ip.Checksum(), ^refSum(hdr); got != want {
			t.Fatalf("iter %d: IPv4 checksum %#04x, recomputed %#04x", i, got, want)
		}
		switch {
		case csumOff < 0:
			other++
		case zeroUDP:
			if ck := binary.BigEndian.Uint16(seg[csumOff:]); ck != 0 {
				t.Fatalf("iter %d: UDP checksum 0 became %#04x", i, ck)
			}
			udpZero++
		default:
			got, want := binary.BigEndian.Uint16(seg[csumOff:]), refL4(ip.Src(), dst, proto, seg, csumOff)
			if got != want {
				t.Fatalf("iter %d: proto %d checksum %#04x, recomputed %#04x", i, proto, got, want)
			}
			if proto == header.IPProtoUDP && i%8 == 1 {
				if got != 0xffff {
					t.Fatalf("iter %d: UDP zero result sent as %#04x", i, got)
				}
				udpFFFF++
			}
		}
		// Nothing else changed.
		for _, j := range []int{1, 10, 11, 16, 17, 18, 19} {
			orig[l3+j] = frame[l3+j]
		}
		if csumOff >= 0 {
			orig[l3+hl+csumOff], orig[l3+hl+csumOff+1] = seg[csumOff], seg[csumOff+1]
		}
		if !bytes.Equal(orig, frame) {
			t.Fatalf("iter %d: other bytes changed", i)
		}
	}
	if udpZero == 0 || udpFFFF == 0 || other == 0 {
		t.Fatalf("cases not exercised: %d %d %d", udpZero, udpFFFF, other)
	}
}

func zeroField(seg []byte, off int) []byte {
	s := append([]byte(nil), seg...)
	s[off], s[off+1] = 0, 0
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
