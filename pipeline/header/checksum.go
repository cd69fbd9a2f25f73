package header

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) is the ones' complement of the ones'
// complement sum of the data taken as big-endian 16-bit words. Functions in
// this file split that in two steps:
//
//   - Checksum and the PseudoHeaderSum functions return a partial sum as a
//     uint32 ("unfolded"): carries out of bit 15 have not been folded back
//     yet. Partial sums can be chained through the initial argument or added
//     together (as long as the uint32 does not overflow, which needs more than
//     65535 additions of folded values).
//   - FoldChecksum folds the carries and complements, giving the value to
//     store in a header's checksum field.
//
// Ones' complement arithmetic has two zeros, 0x0000 and 0xFFFF. A sum of data
// that is not all zero bits always folds to a value in [1, 0xFFFF], so a
// checksum computed from scratch is never 0xFFFF for real headers. The
// incremental updates below use RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'),
// which gives the same result as recomputation from scratch (eqn. 2 of RFC
// 1624, HC' = HC - ~m - m', can produce 0xFFFF where recomputation gives
// 0x0000, the "-0" problem; see UpdateChecksum16 for the corner, data that
// is all zero bits, where eqn. 3 is off too). The update functions only see the checksum and
// the changed word, so for UDP, where 0x0000 means "no checksum", use the
// UDPChecksumUpdate helpers.

// Checksum returns the unfolded ones' complement sum of b taken as big-endian
// 16-bit words (a trailing odd byte is padded with a zero byte on the right),
// added to initial. b is taken to start at an even offset of the checksummed
// data. To add a part that starts at an odd offset, sum it on its own, fold
// it (^FoldChecksum), byte-swap the 16-bit result (math/bits.ReverseBytes16)
// and add that: the ones' complement sum is byte-order independent.
//
// The result is folded down to 32 bits but not to 16; pass it to
// FoldChecksum to get the value to store.
func Checksum(b []byte, initial uint32) uint32 {
	// The sum is accumulated over little-endian 64-bit loads, with
	// end-around carry through bits.Add64. That is valid because:
	//   - 2^16 = 1 (mod 2^16-1), so adding a 64-bit word equals adding its
	//     four 16-bit words, and the carry out of bit 63 is worth 2^64 = 1;
	//   - the ones' complement sum is byte-order independent (RFC 1071
	//     section 2(B)): summing byte-swapped words and swapping the folded
	//     result gives the big-endian sum. Little-endian loads are a plain
	//     MOV on amd64 and arm64, with no byte swap per word.
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint32(b[0:4])), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint16(b[0:2])), c)
		b = b[2:]
	}
	if len(b) == 1 {
		// Little-endian domain: the lone byte is the low byte of its word,
		// which becomes the high byte once swapped back.
		s, c = bits.Add64(s, uint64(b[0]), c)
	}
	// s + c < 2^64 + 1: fold to 32 bits first, adding the last carry there.
	t := s>>32 + s&0xffffffff + c
	sum16 := bits.ReverseBytes16(fold16(t))
	r := uint64(initial) + uint64(sum16)
	return uint32(r>>32 + r&0xffffffff)
}

// fold16 folds a ones' complement sum held in a uint64 down to 16 bits
// (without complementing). A non-zero input gives a non-zero result.
func fold16(s uint64) uint16 {
	s = s>>32 + s&0xffffffff // < 2^33
	s = s>>16 + s&0xffff     // < 2^17 + 2^16
	s = s>>16 + s&0xffff     // <= 0xffff + 2
	s = s>>16 + s&0xffff     // <= 0xffff
	return uint16(s)
}

// FoldChecksum folds the carries of an unfolded sum into 16 bits and returns
// its ones' complement: the value to store in a checksum field. When
// verifying, fold the sum over the data including its checksum field: a
// correct checksum gives 0.
func FoldChecksum(sum uint32) uint16 {
	s := sum>>16 + sum&0xffff // <= 0x1fffe
	s = s>>16 + s&0xffff      // <= 0xffff
	return ^uint16(s)
}

// PseudoHeaderSum4 returns the unfolded sum of the IPv4 pseudo header used by
// TCP and UDP (RFC 793, RFC 768): source, destination, zero+protocol and the
// L4 length (header plus payload). Pass it as initial to Checksum over the
// segment.
func PseudoHeaderSum4(src, dst [4]byte, proto uint8, length uint16) uint32 {
	return uint32(binary.BigEndian.Uint16(src[0:2])) +
		uint32(binary.BigEndian.Uint16(src[2:4])) +
		uint32(binary.BigEndian.Uint16(dst[0:2])) +
		uint32(binary.BigEndian.Uint16(dst[2:4])) +
		uint32(proto) + uint32(length)
}

// PseudoHeaderSum6 returns the unfolded sum of the IPv6 pseudo header
// (RFC 8200 section 8.1): source, destination, 32-bit upper-layer length and
// next header. Note proto is the upper-layer protocol (e.g. TCP), not the
// next-header value of the fixed header when extension headers are present,
// and length excludes extension headers.
func PseudoHeaderSum6(src, dst [16]byte, proto uint8, length uint32) uint32 {
	var s uint32
	for i := 0; i < 16; i += 2 {
		s += uint32(binary.BigEndian.Uint16(src[i:i+2])) + uint32(binary.BigEndian.Uint16(dst[i:i+2]))
	}
	return s + length>>16 + length&0xffff + uint32(proto)
}

// UpdateChecksum16 returns checksum cksum updated for a 16-bit word of the
// covered data changing from old to new, per RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m'). The word must be at an even offset of the
// checksummed data (a single byte at an odd offset is the low byte of its
// word). Not for UDP, whose 0x0000 means "no checksum": see
// UDPChecksumUpdate16.
//
// The result is identical to recomputing the checksum from scratch, except
// around 0xFFFF, the checksum of data that is all zero bits:
//   - if cksum is 0xFFFF (all-zero data before, or a sender that stored the
//     alternative form of 0x0000), the result may be 0xFFFF where
//     recomputation gives 0x0000. That still verifies.
//   - if the data is all zero after the change, the result is 0x0000 where
//     0xFFFF is required, and a receiver rejects it. The update cannot tell
//     this from non-zero data that sums to 0xFFFF, whose checksum is 0x0000.
//
// IPv4 header and TCP/UDP/ICMPv6 checksums never cover all-zero data (the
// version octet and the pseudo header's protocol are never zero). ICMPv4 can
// (an echo reply with identifier, sequence number and data all zero);
// ICMPv4.SetTypeWithChecksumUpdate handles that case.
func UpdateChecksum16(cksum, old, new uint16) uint16 {
	s := uint32(^cksum) + uint32(^old) + uint32(new) // <= 3*0xffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return ^uint16(s)
}

// UpdateChecksum32 is UpdateChecksum16 for a 32-bit value (two adjacent
// 16-bit words, the first at an even offset) changing from old to new.
func UpdateChecksum32(cksum uint16, old, new uint32) uint16 {
	// ^old as a 32-bit value is the complement of both of its 16-bit halves.
	return ^fold16(uint64(^cksum) + uint64(^old) + uint64(new))
}

// UpdateChecksumAddr4 returns cksum updated for an IPv4 address in the
// covered data changing from old to new. Use it for the IPv4 header checksum
// and for a TCP checksum (the pseudo header covers the addresses); for UDP use
// UDPChecksumUpdateAddr4.
func UpdateChecksumAddr4(cksum uint16, old, new [4]byte) uint16 {
	return UpdateChecksum32(cksum, binary.BigEndian.Uint32(old[:]), binary.BigEndian.Uint32(new[:]))
}

// UpdateChecksumAddr6 returns cksum updated for an IPv6 address in the
// covered data (the pseudo header of TCP, UDP or ICMPv6) changing from old to
// new. For UDP use UDPChecksumUpdateAddr6.
func UpdateChecksumAddr6(cksum uint16, old, new [16]byte) uint16 {
	s := uint64(^cksum)
	for i := 0; i < 16; i += 4 {
		s += uint64(^binary.BigEndian.Uint32(old[i:i+4])) + uint64(binary.BigEndian.Uint32(new[i:i+4]))
	}
	return ^fold16(s)
}

// udpFixup applies the UDP rules to an incrementally updated checksum: a
// received 0 means the sender did not compute one (IPv4 only; RFC 768) and
// must stay 0, and a computed 0 is transmitted as 0xFFFF.
func udpFixup(orig, updated uint16) uint16 {
	switch {
	case orig == 0:
		return 0
	case updated == 0:
		return 0xffff
	}
	return updated
}

// UDPChecksumUpdate16 is UpdateChecksum16 for a UDP checksum: a checksum of
// 0 ("none", RFC 768) is left as 0, and a result of 0 is mapped to 0xFFFF,
// the transmitted form of a computed zero.
func UDPChecksumUpdate16(cksum, old, new uint16) uint16 {
	return udpFixup(cksum, UpdateChecksum16(cksum, old, new))
}

// UDPChecksumUpdateAddr4 is UpdateChecksumAddr4 for a UDP-over-IPv4
// checksum: 0 ("no checksum") stays 0, and a result of 0 becomes 0xFFFF.
func UDPChecksumUpdateAddr4(cksum uint16, old, new [4]byte) uint16 {
	return udpFixup(cksum, UpdateChecksumAddr4(cksum, old, new))
}

// UDPChecksumUpdateAddr6 is UpdateChecksumAddr6 for a UDP-over-IPv6
// checksum. A 0 checksum is not allowed for UDP over IPv6 (RFC 8200 section
// 8.1) except for tunnels (RFC 6935); it is passed through unchanged like for
// IPv4 rather than turned into a bogus value. A result of 0 becomes 0xFFFF.
func UDPChecksumUpdateAddr6(cksum uint16, old, new [16]byte) uint16 {
	return udpFixup(cksum, UpdateChecksumAddr6(cksum, old, new))
}

// segmentSum returns the folded (not complemented) sum of seg, skipping the
// 2-byte checksum field at csumOff, added to initial. If csumOff does not
// leave room for the field inside seg, all of seg is summed.
func segmentSum(seg []byte, csumOff int, initial uint32) uint16 {
	if csumOff < 0 || csumOff > len(seg)-2 {
		return ^FoldChecksum(Checksum(seg, initial))
	}
	s := Checksum(seg[:csumOff], initial)
	rest := ^FoldChecksum(Checksum(seg[csumOff+2:], 0))
	if csumOff&1 != 0 {
		// The rest starts at an odd offset, so its bytes pair up the other
		// way round; by byte-order independence its contribution is the
		// byte-swapped sum of the bytes taken from an even offset.
		rest = bits.ReverseBytes16(rest)
	}
	return ^FoldChecksum(s + uint32(rest))
}

// L4Checksum4 computes from scratch the checksum to store in a TCP, UDP or
// ICMP segment carried over IPv4: seg is the whole segment (header and
// payload, e.g. IPv4.Payload()), csumOff the offset of its checksum field,
// whose current content is ignored. For TCP and UDP the pseudo header built
// from src, dst, proto and len(seg) is included; ICMP (proto IPProtoICMP)
// has no pseudo header (RFC 792). For UDP a computed 0 is returned as 0xFFFF
// (RFC 768). If csumOff does not leave room for the field in seg, seg is
// summed as is. Meant for tests and the slow path.
func L4Checksum4(src, dst [4]byte, proto uint8, seg []byte, csumOff int) uint16 {
	var initial uint32
	if proto != IPProtoICMP {
		initial = PseudoHeaderSum4(src, dst, proto, uint16(len(seg)))
	}
	ck := ^segmentSum(seg, csumOff, initial)
	if ck == 0 && proto == IPProtoUDP {
		ck = 0xffff
	}
	return ck
}

// L4Checksum6 is L4Checksum4 for IPv6: the pseudo header of RFC 8200 section
// 8.1 is included for every protocol, ICMPv6 too. proto is the upper-layer
// protocol and seg the upper-layer packet (after any extension headers).
func L4Checksum6(src, dst [16]byte, proto uint8, seg []byte, csumOff int) uint16 {
	ck := ^segmentSum(seg, csumOff, PseudoHeaderSum6(src, dst, proto, uint32(len(seg))))
	if ck == 0 && proto == IPProtoUDP {
		ck = 0xffff
	}
	return ck
}
