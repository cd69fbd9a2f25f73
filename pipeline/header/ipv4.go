package header

import "encoding/binary"

// IPv4 header (RFC 791 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The Type of Service octet is DSCP (upper 6 bits) and ECN (lower 2 bits)
// since RFC 2474 and RFC 3168.
const (
	ipv4VerIHL    = 0
	ipv4TOS       = 1
	ipv4TotalLen  = 2
	ipv4ID        = 4
	ipv4FlagsFrag = 6
	ipv4TTL       = 8
	ipv4Protocol  = 9
	ipv4Checksum  = 10
	ipv4Src       = 12
	ipv4Dst       = 16
	ipv4Options   = 20
)

// IPv4MinLen is the length of an IPv4 header without options.
const IPv4MinLen = 20

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), as found
// in the IPv4 Protocol and IPv6 Next Header fields.
const (
	IPProtoICMP   = 1
	IPProtoIPv4   = 4 // IP-in-IP
	IPProtoTCP    = 6
	IPProtoUDP    = 17
	IPProtoIPv6   = 41
	IPProtoGRE    = 47
	IPProtoICMPv6 = 58
)

// Values of the 3-bit IPv4 flags field as returned by Flags (already shifted
// down).
const (
	IPv4FlagMF = 0x1 // more fragments
	IPv4FlagDF = 0x2 // don't fragment
)

// IPv4 is an IPv4 header followed by its payload. Call IsValid before any
// other method.
type IPv4 []byte

// IsValid reports whether ip holds a well-formed IPv4 header, given n bytes
// of packet from the header start (n is capped at len(ip)): n >= 20, version
// 4, IHL >= 5 and IHL*4 <= TotalLength <= n. Bytes past TotalLength (e.g.
// Ethernet padding) are allowed. The checksum is not verified; see
// ChecksumValid.
func (ip IPv4) IsValid(n int) bool {
	n = min(n, len(ip))
	if n < IPv4MinLen || ip[ipv4VerIHL]>>4 != 4 {
		return false
	}
	hl := int(ip[ipv4VerIHL]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(ip[ipv4TotalLen:]))
	return hl >= IPv4MinLen && hl <= tl && tl <= n
}

// HeaderLen returns the header length in bytes (IHL * 4).
func (ip IPv4) HeaderLen() int { return int(ip[ipv4VerIHL]&0xf) * 4 }

// TotalLen returns the Total Length field: header plus payload in bytes.
func (ip IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(ip[ipv4TotalLen:]) }

// TOS returns the whole Type of Service octet (DSCP and ECN).
func (ip IPv4) TOS() uint8 { return ip[ipv4TOS] }

// DSCP returns the Differentiated Services codepoint (upper 6 bits of TOS).
func (ip IPv4) DSCP() uint8 { return ip[ipv4TOS] >> 2 }

// ECN returns the ECN codepoint (lower 2 bits of TOS).
func (ip IPv4) ECN() uint8 { return ip[ipv4TOS] & 3 }

// ID returns the Identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[ipv4ID:]) }

// Flags returns the 3-bit flags field (IPv4FlagDF, IPv4FlagMF; 0x4 is the
// reserved bit).
func (ip IPv4) Flags() uint8 { return ip[ipv4FlagsFrag] >> 5 }

// DontFragment reports whether DF is set.
func (ip IPv4) DontFragment() bool { return ip[ipv4FlagsFrag]&(IPv4FlagDF<<5) != 0 }

// MoreFragments reports whether MF is set.
func (ip IPv4) MoreFragments() bool { return ip[ipv4FlagsFrag]&(IPv4FlagMF<<5) != 0 }

// FragmentOffset returns the fragment offset in 8-byte units.
func (ip IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:]) & 0x1fff
}

// IsFragment reports whether the packet is a fragment: MF set or a non-zero
// offset. Only the first fragment (offset 0) carries the L4 header.
func (ip IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:])&(IPv4FlagMF<<13|0x1fff) != 0
}

// TTL returns the Time to Live.
func (ip IPv4) TTL() uint8 { return ip[ipv4TTL] }

// Protocol returns the payload protocol number (IPProtoTCP, ...).
func (ip IPv4) Protocol() uint8 { return ip[ipv4Protocol] }

// Checksum returns the Header Checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[ipv4Checksum:]) }

// Src returns the source address.
func (ip IPv4) Src() [4]byte { return [4]byte(ip[ipv4Src : ipv4Src+4]) }

// Dst returns the destination address.
func (ip IPv4) Dst() [4]byte { return [4]byte(ip[ipv4Dst : ipv4Dst+4]) }

// SrcUint32 returns the source address as a big-endian number (10.0.0.1 is
// 0x0a000001), for hashing and map keys.
func (ip IPv4) SrcUint32() uint32 { return binary.BigEndian.Uint32(ip[ipv4Src:]) }

// DstUint32 returns the destination address as a big-endian number.
func (ip IPv4) DstUint32() uint32 { return binary.BigEndian.Uint32(ip[ipv4Dst:]) }

// Options returns the options area, ip[20:HeaderLen()] (empty for IHL 5).
func (ip IPv4) Options() []byte { return ip[ipv4Options:ip.HeaderLen()] }

// Payload returns ip[HeaderLen():TotalLen()], the payload without any
// link-layer padding that follows the datagram.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():ip.TotalLen()] }

// The raw setters below write the field only; the header checksum is left as
// it is (recompute it, or use the ...WithChecksumUpdate variants).

// SetChecksum sets the Header Checksum field.
func (ip IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(ip[ipv4Checksum:], c) }

// SetTotalLen sets the Total Length field.
func (ip IPv4) SetTotalLen(l uint16) { binary.BigEndian.PutUint16(ip[ipv4TotalLen:], l) }

// SetTOS sets the whole Type of Service octet.
func (ip IPv4) SetTOS(tos uint8) { ip[ipv4TOS] = tos }

// SetTTL sets the Time to Live.
func (ip IPv4) SetTTL(ttl uint8) { ip[ipv4TTL] = ttl }

// SetID sets the Identification field.
func (ip IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(ip[ipv4ID:], id) }

// SetProtocol sets the Protocol field.
func (ip IPv4) SetProtocol(p uint8) { ip[ipv4Protocol] = p }

// SetFlagsFragment sets the 3-bit flags (as returned by Flags) and the 13-bit
// fragment offset in 8-byte units; excess bits are dropped.
func (ip IPv4) SetFlagsFragment(flags uint8, off uint16) {
	binary.BigEndian.PutUint16(ip[ipv4FlagsFrag:], uint16(flags&7)<<13|off&0x1fff)
}

// SetSrc sets the source address.
func (ip IPv4) SetSrc(a [4]byte) { copy(ip[ipv4Src:ipv4Src+4], a[:]) }

// SetDst sets the destination address.
func (ip IPv4) SetDst(a [4]byte) { copy(ip[ipv4Dst:ipv4Dst+4], a[:]) }

// CalculateChecksum returns the header checksum computed over HeaderLen()
// bytes with the checksum field taken as zero: the value SetChecksum should
// store.
func (ip IPv4) CalculateChecksum() uint16 {
	// The field is at an even offset, so the two halves can be summed
	// separately and added.
	s := Checksum(ip[:ipv4Checksum], 0)
	return FoldChecksum(Checksum(ip[ipv4Checksum+2:ip.HeaderLen()], s))
}

// ChecksumValid reports whether the header checksum is correct: the sum over
// the whole header, checksum included, must be all ones. Both 0x0000 and
// 0xFFFF are accepted for a checksum whose computed value is 0 (they are
// the two ones' complement zeros).
func (ip IPv4) ChecksumValid() bool {
	if len(ip) >= IPv4MinLen && ip[ipv4VerIHL]&0xf == 5 {
		// The common option-less header: five 32-bit words summed in 64
		// bits cannot overflow. A valid header sums to 0xFFFF in either
		// byte order, so little-endian loads need no swap.
		s := uint64(binary.LittleEndian.Uint32(ip[0:])) + uint64(binary.LittleEndian.Uint32(ip[4:])) +
			uint64(binary.LittleEndian.Uint32(ip[8:])) + uint64(binary.LittleEndian.Uint32(ip[12:])) +
			uint64(binary.LittleEndian.Uint32(ip[16:]))
		s = s>>32 + s&0xffffffff
		s = s>>16 + s&0xffff
		s = s>>16 + s&0xffff
		s = s>>16 + s&0xffff
		return s == 0xffff
	}
	return FoldChecksum(Checksum(ip[:ip.HeaderLen()], 0)) == 0
}

// SetDSCPWithChecksumUpdate sets the DSCP (the upper 6 bits of TOS; dscp is
// masked to 6 bits), keeps the ECN bits, and updates the header checksum
// incrementally.
func (ip IPv4) SetDSCPWithChecksumUpdate(dscp uint8) {
	old := binary.BigEndian.Uint16(ip[ipv4VerIHL:])
	ip[ipv4TOS] = dscp<<2 | ip[ipv4TOS]&3
	ip.SetChecksum(UpdateChecksum16(ip.Checksum(), old, binary.BigEndian.Uint16(ip[ipv4VerIHL:])))
}

// SetDstWithChecksumUpdate sets the destination address and updates the IP
// header checksum incrementally. The TCP/UDP checksum also covers the
// address through its pseudo header; fixing it is the caller's job
// (UpdateChecksumAddr4 for TCP, UDPChecksumUpdateAddr4 for UDP).
func (ip IPv4) SetDstWithChecksumUpdate(a [4]byte) {
	old := ip.DstUint32()
	ip.SetDst(a)
	ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, ip.DstUint32()))
}

// SetSrcWithChecksumUpdate sets the source address and updates the IP header
// checksum incrementally; see SetDstWithChecksumUpdate about the L4
// checksum.
func (ip IPv4) SetSrcWithChecksumUpdate(a [4]byte) {
	old := ip.SrcUint32()
	ip.SetSrc(a)
	ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, ip.SrcUint32()))
}

// DecTTLWithChecksumUpdate decrements the TTL and updates the header
// checksum incrementally. The caller decides what to do with TTL <= 1
// beforehand; a TTL of 0 is left alone rather than wrapped to 255.
func (ip IPv4) DecTTLWithChecksumUpdate() {
	if ip[ipv4TTL] == 0 {
		return
	}
	old := binary.BigEndian.Uint16(ip[ipv4TTL:])
	ip[ipv4TTL]--
	ip.SetChecksum(UpdateChecksum16(ip.Checksum(), old, binary.BigEndian.Uint16(ip[ipv4TTL:])))
}

// IPv4Fields holds the values Encode writes into a 20-byte IPv4 header.
type IPv4Fields struct {
	TOS      uint8
	TotalLen uint16
	ID       uint16
	Flags    uint8  // IPv4FlagDF, IPv4FlagMF
	FragOff  uint16 // 8-byte units
	TTL      uint8
	Protocol uint8
	Src, Dst [4]byte
}

// Encode writes a 20-byte header (version 4, IHL 5, no options) from f into
// ip, which must be at least IPv4MinLen long, and computes its checksum.
func (ip IPv4) Encode(f *IPv4Fields) {
	_ = ip[IPv4MinLen-1] // one bounds check for all the writes below
	ip[ipv4VerIHL] = 4<<4 | 5
	ip[ipv4TOS] = f.TOS
	ip.SetTotalLen(f.TotalLen)
	ip.SetID(f.ID)
	ip.SetFlagsFragment(f.Flags, f.FragOff)
	ip[ipv4TTL] = f.TTL
	ip[ipv4Protocol] = f.Protocol
	ip.SetChecksum(0)
	ip.SetSrc(f.Src)
	ip.SetDst(f.Dst)
	ip.SetChecksum(FoldChecksum(Checksum(ip[:IPv4MinLen], 0)))
}
