package header

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

const randIters = 20000

func newRand() *rand.Rand { return rand.New(rand.NewPCG(0x5eed, 0xd5b1b)) }

// folded is the non-complemented 16-bit sum of a Checksum result.
func folded(s uint32) uint16 { return ^FoldChecksum(s) }

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 section 3: the sum of these bytes is ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := folded(Checksum(b, 0)); got != 0xddf2 {
		t.Fatalf("sum = %#04x, want 0xddf2", got)
	}
	if got := FoldChecksum(Checksum(b, 0)); got != 0x220d {
		t.Fatalf("checksum = %#04x, want 0x220d", got)
	}
}

func TestChecksumLengthsAndAlignments(t *testing.T) {
	r := newRand()
	buf := randBytes(r, 20000)
	lengths := []int{1499, 1500, 1501, 4096, 9000, 19000}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for start := 0; start < 16; start++ {
		for _, n := range lengths {
			b := buf[start : start+n]
			if got, want := folded(Checksum(b, 0)), refSum(b); got != want {
				t.Fatalf("start %d len %d: %#04x, want %#04x", start, n, got, want)
			}
		}
	}
	// Initial values, including ones that make the uint32 wrap.
	for _, init := range []uint32{0, 1, 0xffff, 0x10000, 0x12345678, 0xfffeffff, 0xffffffff} {
		for _, n := range []int{0, 1, 7, 20, 1500} {
			b := buf[3 : 3+n]
			want := uint64(init) + uint64(refSum(b))
			for want > 0xffff {
				want = want>>16 + want&0xffff
			}
			if got := folded(Checksum(b, init)); got != uint16(want) {
				t.Errorf("init %#x len %d: %#04x, want %#04x", init, n, got, want)
			}
		}
	}
}

func TestChecksumCarries(t *testing.T) {
	// All-ones data maximises carries in every accumulator.
	for _, n := range []int{1, 2, 3, 8, 31, 32, 33, 65535, 65536, 200001} {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xff
		}
		if got := folded(Checksum(b, 0xffffffff)); got != foldRef(uint64(0xffffffff)+uint64(refSum(b))) {
			t.Errorf("len %d: %#04x", n, got)
		}
	}
	// Zero data keeps the zero sum (so the checksum is 0xffff).
	if got := FoldChecksum(Checksum(make([]byte, 100), 0)); got != 0xffff {
		t.Errorf("zero data checksum %#04x", got)
	}
	// A non-zero sum that is congruent to zero folds to 0xffff, not 0.
	if got := folded(Checksum([]byte{0xff, 0xff}, 0)); got != 0xffff {
		t.Errorf("ffff sums to %#04x", got)
	}
	if got := folded(Checksum([]byte{0x12, 0x34, 0xed, 0xcb}, 0)); got != 0xffff {
		t.Errorf("x + ~x sums to %#04x", got)
	}
}

func foldRef(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestFoldChecksum(t *testing.T) {
	for _, c := range []struct {
		in  uint32
		out uint16
	}{{0, 0xffff}, {0xffff, 0}, {0x10000, 0xfffe}, {0x1fffe, 0}, {0xffffffff, 0}, {0xfffeffff, 1}, {0xddf2, 0x220d}} {
		if got := FoldChecksum(c.in); got != c.out {
			t.Errorf("FoldChecksum(%#x) = %#04x, want %#04x", c.in, got, c.out)
		}
	}
	r := newRand()
	for range randIters {
		s := r.Uint32()
		if got, want := FoldChecksum(s), ^foldRef(uint64(s)); got != want {
			t.Fatalf("FoldChecksum(%#x) = %#04x, want %#04x", s, got, want)
		}
	}
}

// randIPv4Header returns a random valid IPv4 header with options of random
// length and a correct checksum.
func randIPv4Header(r *rand.Rand) IPv4 {
	ihl := 5 + r.IntN(11)
	b := randBytes(r, ihl*4)
	b[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(b[2:], uint16(ihl*4))
	ip := IPv4(b)
	ip.SetChecksum(ip.CalculateChecksum())
	return ip
}

// forceChecksumZero changes the ID so that the correct header checksum is
// 0x0000 (ones' complement sum of the other fields is 0xffff).
func forceChecksumZero(ip IPv4) {
	ip.SetID(0)
	ip.SetChecksum(0)
	s := refSum(ip[:ip.HeaderLen()])
	ip.SetID(0xffff - s) // s in [1, 0xffff] as the version byte is non-zero
}

func TestIPv4IncrementalRandom(t *testing.T) {
	r := newRand()
	var zeroBefore, zeroAfter, ffffBefore int
	check := func(ip IPv4, what string, i int) {
		t.Helper()
		if got, want := ip.Checksum(), ip.CalculateChecksum(); got != want {
			t.Fatalf("iter %d %s: incremental %#04x, full %#04x (header % x)", i, what, got, want, []byte(ip))
		}
		if !ip.ChecksumValid() {
			t.Fatalf("iter %d %s: invalid", i, what)
		}
		if ip.Checksum() == 0 {
			zeroAfter++
		}
	}
	for i := range randIters {
		ip := randIPv4Header(r)
		if ref := refChecksum(append(append([]byte(nil), ip[:10]...), append([]byte{0, 0}, ip[12:]...)...)); ref != ip.Checksum() {
			t.Fatalf("CalculateChecksum %#04x, reference %#04x", ip.Checksum(), ref)
		}
		if i%4 == 0 {
			forceChecksumZero(ip)
			if ip.Checksum() != 0 || !ip.ChecksumValid() {
				t.Fatalf("forcing zero failed: %#04x", ip.Checksum())
			}
			zeroBefore++
		}
		ecn, dscp := ip.ECN(), uint8(r.Uint32())
		ip.SetDSCPWithChecksumUpdate(dscp)
		if ip.ECN() != ecn || ip.DSCP() != dscp&0x3f || ip.TOS() != (dscp<<2|ecn) {
			t.Fatalf("iter %d: DSCP %#x -> TOS %#x (ECN was %d)", i, dscp, ip.TOS(), ecn)
		}
		check(ip, "dscp", i)
		ip.SetDstWithChecksumUpdate(randIPv4(r))
		check(ip, "dst", i)
		ip.SetSrcWithChecksumUpdate(randIPv4(r))
		check(ip, "src", i)
		if ip.TTL() > 0 {
			ip.DecTTLWithChecksumUpdate()
			check(ip, "ttl", i)
		}

		// Pick a destination that makes the new checksum exactly 0x0000.
		if i%3 == 0 {
			saved := ip.Dst()
			ip.SetDst([4]byte{})
			ip.SetChecksum(0)
			s := refSum(ip[:ip.HeaderLen()])
			hi := uint16(r.Uint32())
			lo := 0xffff - foldRef(uint64(s)+uint64(hi))
			var d [4]byte
			binary.BigEndian.PutUint16(d[0:], hi)
			binary.BigEndian.PutUint16(d[2:], lo)
			ip.SetDst(saved)
			ip.SetChecksum(ip.CalculateChecksum())
			ip.SetDstWithChecksumUpdate(d)
			if ip.Checksum() != 0 {
				t.Fatalf("iter %d: expected checksum 0 after dst %v, got %#04x (full %#04x)", i, d, ip.Checksum(), ip.CalculateChecksum())
			}
			check(ip, "dst->0", i)
		}

		// A header stored with the non-canonical zero 0xffff (valid for a
		// receiver) must stay valid after an update.
		if i%5 == 0 {
			forceChecksumZero(ip)
			ip.SetChecksum(0xffff)
			if !ip.ChecksumValid() {
				t.Fatal("0xffff not accepted as zero checksum")
			}
			ffffBefore++
			ip.SetDstWithChecksumUpdate(randIPv4(r))
			if !ip.ChecksumValid() {
				t.Fatalf("iter %d: invalid after update from 0xffff", i)
			}
			if got, full := ip.Checksum(), ip.CalculateChecksum(); !sameChecksum(0xffff, got, full) {
				t.Fatalf("iter %d: from 0xffff: %#04x, full %#04x", i, got, full)
			}
		}
	}
	if zeroBefore == 0 || zeroAfter == 0 || ffffBefore == 0 {
		t.Fatalf("edge cases not exercised: %d %d %d", zeroBefore, zeroAfter, ffffBefore)
	}
}

func TestUpdateChecksum16And32Random(t *testing.T) {
	r := newRand()
	for i := range randIters {
		n := 2 * (2 + r.IntN(40))
		data := randBytes(r, n)
		if i%7 == 0 {
			clear(data)
		}
		ck := refChecksum(data)
		w := 2 * r.IntN(n/2)
		old := binary.BigEndian.Uint16(data[w:])
		nw := uint16(r.Uint32())
		if i%11 == 0 {
			// Make the new checksum exactly 0: the sum must become 0xffff.
			binary.BigEndian.PutUint16(data[w:], 0)
			nw = 0xffff - refSum(data)
			if refSum(data) == 0 {
				nw = 0xffff
			}
		}
		binary.BigEndian.PutUint16(data[w:], nw)
		full := refChecksum(data)
		got := UpdateChecksum16(ck, old, nw)
		if !sameChecksum(ck, got, full) {
			t.Fatalf("iter %d: UpdateChecksum16(%#04x, %#04x, %#04x) = %#04x, full %#04x", i, ck, old, nw, got, full)
		}

		if n >= 4 {
			w = 2 * r.IntN(n/2-1)
			old32 := binary.BigEndian.Uint32(data[w:])
			ck = refChecksum(data)
			nw32 := r.Uint32()
			binary.BigEndian.PutUint32(data[w:], nw32)
			if got, full := UpdateChecksum32(ck, old32, nw32), refChecksum(data); !sameChecksum(ck, got, full) {
				t.Fatalf("iter %d: UpdateChecksum32 = %#04x, full %#04x", i, got, full)
			}
		}
	}
}

// sameChecksum reports whether an incrementally updated checksum got equals
// the recomputed one, full. They must be identical, except for the corners
// documented on UpdateChecksum16: the old checksum was 0xffff (from scratch
// only for all-zero data, or stored by a sender as the other zero), or the
// recomputed one is 0xffff (the new data is all zero); then got is the other
// ones' complement zero.
func sameChecksum(old, got, full uint16) bool {
	if got == full {
		return true
	}
	return (old == 0xffff || full == 0xffff) && got^full == 0xffff
}

func TestUpdateChecksumFromFFFF(t *testing.T) {
	// All-zero data has checksum 0xffff; a no-op or zero-to-zero change
	// yields 0x0000, the other zero.
	if got := UpdateChecksum16(0xffff, 0, 0); got != 0 {
		t.Errorf("UpdateChecksum16(0xffff, 0, 0) = %#04x", got)
	}
	if got := UpdateChecksum16(0xffff, 0, 5); got != ^uint16(5) {
		t.Errorf("UpdateChecksum16(0xffff, 0, 5) = %#04x", got)
	}
	// Data becoming all zero: recomputation gives 0xffff, eqn. 3 0x0000
	// (which fails verification; documented limitation).
	if got := UpdateChecksum32(^uint16(0x3030), 0x30300000, 0); got != 0 {
		t.Errorf("UpdateChecksum32 to all-zero data = %#04x", got)
	}
	// Stored 0xffff for data summing to 0xffff: changing a 0xffff word to
	// 0 gives 0xffff where recomputation gives 0x0000.
	if got := UpdateChecksum16(0xffff, 0xffff, 0); got != 0xffff {
		t.Errorf("UpdateChecksum16(0xffff, 0xffff, 0) = %#04x", got)
	}
}

// The -0 problem of RFC 1624 section 3: eqn. 2 (HC' = HC - ~m - m') turns a
// checksum that should be 0x0000 into 0xffff; eqn. 3 must not.
func TestUpdateChecksumMinusZero(t *testing.T) {
	// Data: one word 0x0000 and one 0xffff; changing the 0x0000 to 0x0001
	// needs no special case, but from a sum of 0xfffe to 0xffff it does.
	data := []byte{0xff, 0xfe, 0x00, 0x00}
	ck := refChecksum(data) // 0x0001
	binary.BigEndian.PutUint16(data[2:], 1)
	want := refChecksum(data) // 0x0000
	if want != 0 {
		t.Fatalf("setup: %#04x", want)
	}
	if got := UpdateChecksum16(ck, 0, 1); got != 0 {
		t.Fatalf("UpdateChecksum16 = %#04x, want 0x0000", got)
	}
	// And the reverse direction, out of 0x0000.
	if got := UpdateChecksum16(0, 1, 0); got != 1 {
		t.Fatalf("UpdateChecksum16 from 0 = %#04x, want 0x0001", got)
	}
	// No-op change keeps the checksum, including 0x0000 and 0xffff.
	for _, c := range []uint16{0, 1, 0x8000, 0xfffe} {
		for _, w := range []uint16{0, 1, 0xffff, 0x1234} {
			if got := UpdateChecksum16(c, w, w); got != c && !(c == 0 && w == 0xffff) {
				t.Errorf("no-op change of %#04x with word %#04x gave %#04x", w, c, got)
			}
		}
	}
}

// tcpPseudoFull is the TCP/UDP checksum recomputed by the reference sum.
func l4Ref4(src, dst [4]byte, proto uint8, seg []byte, off int) uint16 {
	b := append([]byte(nil), src[:]...)
	b = append(b, dst[:]...)
	b = append(b, 0, proto, byte(len(seg)>>8), byte(len(seg)))
	s := append([]byte(nil), seg...)
	s[off], s[off+1] = 0, 0
	return refChecksum(append(b, s...))
}

func l4Ref6(src, dst [16]byte, proto uint8, seg []byte, off int) uint16 {
	b := append([]byte(nil), src[:]...)
	b = append(b, dst[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(seg)))
	b = append(b, 0, 0, 0, proto)
	s := append([]byte(nil), seg...)
	s[off], s[off+1] = 0, 0
	return refChecksum(append(b, s...))
}

func TestUpdateChecksumAddrRandom(t *testing.T) {
	r := newRand()
	var udpZeroHits int
	for i := range randIters {
		seg := randBytes(r, 20+r.IntN(60))
		src, dst := randIPv4(r), randIPv4(r)
		ck := L4Checksum4(src, dst, IPProtoTCP, seg, TCPChecksumOffset)
		if ref := l4Ref4(src, dst, IPProtoTCP, seg, TCPChecksumOffset); ck != ref {
			t.Fatalf("L4Checksum4 %#04x, reference %#04x", ck, ref)
		}
		nd := randIPv4(r)
		if got, full := UpdateChecksumAddr4(ck, dst, nd), L4Checksum4(src, nd, IPProtoTCP, seg, TCPChecksumOffset); got != full {
			t.Fatalf("iter %d: UpdateChecksumAddr4 %#04x, full %#04x", i, got, full)
		}

		// UDP over IPv4: 0 stays 0; a result of 0 becomes 0xffff.
		uck := L4Checksum4(src, dst, IPProtoUDP, seg, UDPChecksumOffset)
		if got := UDPChecksumUpdateAddr4(0, dst, nd); got != 0 {
			t.Fatalf("UDP checksum 0 changed to %#04x", got)
		}
		if got, full := UDPChecksumUpdateAddr4(uck, dst, nd), L4Checksum4(src, nd, IPProtoUDP, seg, UDPChecksumOffset); got != full {
			t.Fatalf("iter %d: UDPChecksumUpdateAddr4 %#04x, full %#04x", i, got, full)
		}
		if i%10 == 0 {
			// New destination making the raw result 0.
			raw := UpdateChecksumAddr4(uck, dst, [4]byte{})
			s := ^raw // sum with dst = 0.0.0.0
			hi := uint16(r.Uint32())
			lo := 0xffff - foldRef(uint64(s)+uint64(hi))
			var z [4]byte
			binary.BigEndian.PutUint16(z[0:], hi)
			binary.BigEndian.PutUint16(z[2:], lo)
			if UpdateChecksumAddr4(uck, dst, z) != 0 {
				t.Fatalf("iter %d: setup of zero result failed", i)
			}
			udpZeroHits++
			if got, full := UDPChecksumUpdateAddr4(uck, dst, z), L4Checksum4(src, z, IPProtoUDP, seg, UDPChecksumOffset); got != 0xffff || full != 0xffff {
				t.Fatalf("iter %d: UDP zero result %#04x, full %#04x; want 0xffff", i, got, full)
			}
			if got := UDPChecksumUpdate16(uck, 0, 0); got != uck {
				t.Fatal("UDPChecksumUpdate16 no-op")
			}
		}

		// IPv6.
		var s6, d6, n6 [16]byte
		copy(s6[:], randBytes(r, 16))
		copy(d6[:], randBytes(r, 16))
		copy(n6[:], randBytes(r, 16))
		proto := []uint8{IPProtoTCP, IPProtoUDP, IPProtoICMPv6}[i%3]
		off := map[uint8]int{IPProtoTCP: TCPChecksumOffset, IPProtoUDP: UDPChecksumOffset, IPProtoICMPv6: ICMPChecksumOffset}[proto]
		ck6 := L4Checksum6(s6, d6, proto, seg, off)
		ref := l4Ref6(s6, d6, proto, seg, off)
		if proto == IPProtoUDP && ref == 0 {
			ref = 0xffff
		}
		if ck6 != ref {
			t.Fatalf("L4Checksum6 %#04x, reference %#04x", ck6, ref)
		}
		upd := UpdateChecksumAddr6
		if proto == IPProtoUDP {
			upd = UDPChecksumUpdateAddr6
		}
		if got, full := upd(ck6, s6, n6), L4Checksum6(n6, d6, proto, seg, off); got != full {
			t.Fatalf("iter %d proto %d: UpdateChecksumAddr6 %#04x, full %#04x", i, proto, got, full)
		}
	}
	if udpZeroHits == 0 {
		t.Fatal("no zero-result case")
	}
	if UDPChecksumUpdateAddr6(0, [16]byte{1}, [16]byte{2}) != 0 {
		t.Error("UDPChecksumUpdateAddr6 changed 0")
	}
}

func TestL4ChecksumOddOffset(t *testing.T) {
	r := newRand()
	for i := range 2000 {
		seg := randBytes(r, 2+r.IntN(100))
		off := r.IntN(len(seg) - 1)
		src, dst := randIPv4(r), randIPv4(r)
		// TCP as the protocol but an arbitrary, possibly odd, field offset.
		if got, want := L4Checksum4(src, dst, IPProtoTCP, seg, off), l4Ref4(src, dst, IPProtoTCP, seg, off); got != want {
			t.Fatalf("iter %d len %d off %d: %#04x, want %#04x", i, len(seg), off, got, want)
		}
	}
	// Out-of-range offsets: the segment is summed as is.
	seg := []byte{1, 2, 3}
	want := refChecksum(seg)
	for _, off := range []int{-1, 2, 3, 100} {
		if got := L4Checksum4([4]byte{}, [4]byte{}, IPProtoICMP, seg, off); got != want {
			t.Errorf("off %d: %#04x, want %#04x", off, got, want)
		}
	}
}

// TestPseudoHeaderVsGopacket checks PseudoHeaderSum4/6 + Checksum against
// the checksums gopacket computes for random TCP and UDP packets.
func TestPseudoHeaderVsGopacket(t *testing.T) {
	r := newRand()
	for i := range 400 {
		payload := gopacket.Payload(randBytes(r, r.IntN(300)))
		v6 := i%2 == 1
		var nl gopacket.NetworkLayer
		var l3 gopacket.SerializableLayer
		if v6 {
			ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: net.IP(randBytes(r, 16)), DstIP: net.IP(randBytes(r, 16))}
			nl, l3 = ip, ip
		} else {
			ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.IP(randBytes(r, 4)), DstIP: net.IP(randBytes(r, 4))}
			nl, l3 = ip, ip
		}
		var l4 gopacket.SerializableLayer
		var proto uint8
		var off int
		var want func() uint16
		if i%4 < 2 {
			tcp := &layers.TCP{SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()), Seq: r.Uint32(), ACK: true, Ack: r.Uint32(), Window: uint16(r.Uint32())}
			_ = tcp.SetNetworkLayerForChecksum(nl)
			l4, proto, off, want = tcp, IPProtoTCP, TCPChecksumOffset, func() uint16 { return tcp.Checksum }
		} else {
			udp := &layers.UDP{SrcPort: layers.UDPPort(r.Uint32()), DstPort: layers.UDPPort(r.Uint32())}
			_ = udp.SetNetworkLayerForChecksum(nl)
			l4, proto, off, want = udp, IPProtoUDP, UDPChecksumOffset, func() uint16 { return udp.Checksum }
		}
		if ip, ok := l3.(*layers.IPv6); ok {
			ip.NextHeader = layers.IPProtocol(proto)
		} else {
			l3.(*layers.IPv4).Protocol = layers.IPProtocol(proto)
		}
		pkt := serialize(t, l3, l4, payload)

		var seg []byte
		var sum uint32
		var l4full uint16
		if v6 {
			ip := IPv6(pkt)
			seg = ip.Payload()
			sum = PseudoHeaderSum6(ip.Src(), ip.Dst(), proto, uint32(len(seg)))
			l4full = L4Checksum6(ip.Src(), ip.Dst(), proto, seg, off)
		} else {
			ip := IPv4(pkt)
			if !ip.IsValid(len(pkt)) || !ip.ChecksumValid() {
				t.Fatal("gopacket IPv4 header invalid")
			}
			seg = ip.Payload()
			sum = PseudoHeaderSum4(ip.Src(), ip.Dst(), proto, uint16(len(seg)))
			l4full = L4Checksum4(ip.Src(), ip.Dst(), proto, seg, off)
		}
		// Verification form: the sum over pseudo header and segment,
		// checksum included, folds to zero.
		if v := FoldChecksum(Checksum(seg, sum)); v != 0 {
			t.Fatalf("iter %d: verification sum %#04x", i, v)
		}
		zeroed := append([]byte(nil), seg...)
		zeroed[off], zeroed[off+1] = 0, 0
		got := FoldChecksum(Checksum(zeroed, sum))
		if proto == IPProtoUDP && got == 0 {
			got = 0xffff
		}
		if got != want() || l4full != want() {
			t.Fatalf("iter %d (v6 %v proto %d len %d): ours %#04x / %#04x, gopacket %#04x", i, v6, proto, len(seg), got, l4full, want())
		}
	}
}

// Sanity check of the byte-swap identity Checksum's doc relies on.
func TestChecksumOddSplit(t *testing.T) {
	r := newRand()
	for range 1000 {
		b := randBytes(r, 1+r.IntN(200))
		k := r.IntN(len(b))
		first := Checksum(b[:k], 0)
		second := folded(Checksum(b[k:], 0))
		if k%2 == 1 {
			second = bits.ReverseBytes16(second)
		}
		if got := folded(first + uint32(second)); got != refSum(b) {
			t.Fatalf("split at %d of %d: %#04x, want %#04x", k, len(b), got, refSum(b))
		}
	}
}

// TestChecksumValidFastPath compares the option-less fast path of
// IPv4.ChecksumValid with the general sum on random headers, half of them
// with a correct checksum, and with every single-bit corruption of one.
func TestChecksumValidFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	ip := make(IPv4, 20)
	slow := func() bool { return FoldChecksum(Checksum(ip[:20], 0)) == 0 }
	valid := 0
	for i := 0; i < 200000; i++ {
		for j := range ip {
			ip[j] = byte(rng.Uint32())
		}
		ip[0] = 0x45
		if i%2 == 0 {
			ip.SetChecksum(ip.CalculateChecksum())
		}
		if got, want := ip.ChecksumValid(), slow(); got != want {
			t.Fatalf("header % x: fast %v, general %v", []byte(ip), got, want)
		}
		if slow() {
			valid++
		}
	}
	if valid < 100000 {
		t.Fatalf("only %d valid headers generated", valid)
	}
	ip.SetChecksum(ip.CalculateChecksum())
	for bit := 8; bit < 160; bit++ { // keep version/IHL
		ip[bit/8] ^= 1 << (bit % 8)
		if ip.ChecksumValid() != slow() {
			t.Fatalf("bit %d flipped: fast and general disagree", bit)
		}
		ip[bit/8] ^= 1 << (bit % 8)
	}
}
