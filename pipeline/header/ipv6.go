package header

import "encoding/binary"

// IPv6 fixed header (RFC 8200 section 3):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+                         Source Address                        +
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+                      Destination Address                      +
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv6VerTCFlow  = 0
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6Src        = 8
	ipv6Dst        = 24
)

// IPv6Len is the length of the fixed IPv6 header.
const IPv6Len = 40

// IPv6 is an IPv6 fixed header followed by its payload (extension headers
// included). Call IsValid before any other method.
type IPv6 []byte

// IsValid reports whether ip holds an IPv6 header with version 6 whose
// payload fits, given n bytes of packet from the header start (n is capped
// at len(ip)): 40 + PayloadLen <= n. Jumbograms (payload length 0 plus a
// hop-by-hop Jumbo Payload option, RFC 2675) are not recognised: they look
// like packets with an empty payload.
func (ip IPv6) IsValid(n int) bool {
	n = min(n, len(ip))
	return n >= IPv6Len && ip[ipv6VerTCFlow]>>4 == 6 &&
		IPv6Len+int(binary.BigEndian.Uint16(ip[ipv6PayloadLen:])) <= n
}

// TrafficClass returns the Traffic Class (DSCP and ECN).
func (ip IPv6) TrafficClass() uint8 {
	return ip[0]<<4 | ip[1]>>4
}

// FlowLabel returns the 20-bit Flow Label.
func (ip IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(ip[ipv6VerTCFlow:]) & 0x000fffff
}

// PayloadLen returns the Payload Length: bytes after the fixed header,
// extension headers included.
func (ip IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(ip[ipv6PayloadLen:]) }

// NextHeader returns the Next Header field of the fixed header.
func (ip IPv6) NextHeader() uint8 { return ip[ipv6NextHeader] }

// HopLimit returns the Hop Limit.
func (ip IPv6) HopLimit() uint8 { return ip[ipv6HopLimit] }

// Src returns the source address.
func (ip IPv6) Src() [16]byte { return [16]byte(ip[ipv6Src : ipv6Src+16]) }

// Dst returns the destination address.
func (ip IPv6) Dst() [16]byte { return [16]byte(ip[ipv6Dst : ipv6Dst+16]) }

// Payload returns ip[40:40+PayloadLen()], extension headers included.
func (ip IPv6) Payload() []byte { return ip[IPv6Len : IPv6Len+int(ip.PayloadLen())] }

// SetTrafficClass sets the Traffic Class, keeping version and flow label.
func (ip IPv6) SetTrafficClass(tc uint8) {
	ip[0] = ip[0]&0xf0 | tc>>4
	ip[1] = tc<<4 | ip[1]&0x0f
}

// SetFlowLabel sets the 20-bit Flow Label (upper bits of fl are dropped),
// keeping version and traffic class.
func (ip IPv6) SetFlowLabel(fl uint32) {
	ip[1] = ip[1]&0xf0 | uint8(fl>>16)&0x0f
	binary.BigEndian.PutUint16(ip[2:], uint16(fl))
}

// SetPayloadLen sets the Payload Length.
func (ip IPv6) SetPayloadLen(l uint16) { binary.BigEndian.PutUint16(ip[ipv6PayloadLen:], l) }

// SetNextHeader sets the Next Header field of the fixed header.
func (ip IPv6) SetNextHeader(nh uint8) { ip[ipv6NextHeader] = nh }

// SetHopLimit sets the Hop Limit.
func (ip IPv6) SetHopLimit(hl uint8) { ip[ipv6HopLimit] = hl }

// SetSrc sets the source address. IPv6 has no header checksum, but the
// pseudo header of TCP/UDP/ICMPv6 covers it (UpdateChecksumAddr6).
func (ip IPv6) SetSrc(a [16]byte) { copy(ip[ipv6Src:ipv6Src+16], a[:]) }

// SetDst sets the destination address; see SetSrc about L4 checksums.
func (ip IPv6) SetDst(a [16]byte) { copy(ip[ipv6Dst:ipv6Dst+16], a[:]) }

// IPv6Fields holds the values Encode writes into an IPv6 fixed header.
type IPv6Fields struct {
	TrafficClass uint8
	FlowLabel    uint32 // 20 bits
	PayloadLen   uint16
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     [16]byte
}

// Encode writes the 40-byte fixed header (version 6) from f into ip, which
// must be at least IPv6Len long.
func (ip IPv6) Encode(f *IPv6Fields) {
	_ = ip[IPv6Len-1]
	binary.BigEndian.PutUint32(ip[ipv6VerTCFlow:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0x000fffff)
	ip.SetPayloadLen(f.PayloadLen)
	ip[ipv6NextHeader] = f.NextHeader
	ip[ipv6HopLimit] = f.HopLimit
	ip.SetSrc(f.Src)
	ip.SetDst(f.Dst)
}

// IPv6 extension headers. Hop-by-Hop Options, Routing and Destination
// Options share this layout (RFC 8200 section 4.3; Routing adds its own
// fields in the data area but keeps the first two octets):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |  Hdr Ext Len  |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                                                               |
//	.                                                               .
//	.                            Options                            .
//	.                                                               .
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Hdr Ext Len is in 8-octet units, not counting the first 8 octets.
//
// Fragment header (RFC 8200 section 4.5):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Identification                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	extNextHeader = 0
	extLen        = 1

	fragNextHeader = 0
	fragOffsetM    = 2
	fragID         = 4
)

// IPv6 extension header types (Next Header values).
const (
	IPv6HopByHop  = 0
	IPv6Routing   = 43
	IPv6Fragment  = 44
	IPv6NoNext    = 59
	IPv6DestOpts  = 60
	ipv6ESP       = 50
	ipv6AH        = 51
	ipv6Mobility  = 135
	ipv6HIP       = 139
	ipv6Shim6     = 140
	ipv6Exp1      = 253
	ipv6Exp2      = 254
	ipv6ExtMinLen = 8
)

// IPv6FragLen is the length of the IPv6 fragment header.
const IPv6FragLen = 8

// ExtResult tells how SkipExtensions ended.
type ExtResult uint8

const (
	// ExtOK: proto is the upper-layer protocol (TCP, UDP, ICMPv6, ...)
	// and offset the start of its header, relative to the start of the
	// IPv6 header. proto may be IPv6NoNext, in which case nothing follows
	// and offset is the end of the last extension header.
	ExtOK ExtResult = iota
	// ExtTruncated: an extension header (or the fixed header) does not fit
	// in the packet as bounded by Payload Length and the slice. proto and
	// offset are those of the header that did not fit (0 and 0 when the
	// fixed header itself is short).
	ExtTruncated
	// ExtFragment: a complete fragment header (IPv6FragLen bytes) is at
	// offset and proto is IPv6Fragment. The upper-layer header is only in
	// the first fragment; see IPv6Frag.
	ExtFragment
	// ExtUnknown: proto is an IPv6 extension header that is not walked
	// (ESP, AH, Mobility, HIP, Shim6, experimental 253/254), at offset.
	ExtUnknown
)

// String returns the constant's name.
func (r ExtResult) String() string {
	switch r {
	case ExtOK:
		return "ExtOK"
	case ExtTruncated:
		return "ExtTruncated"
	case ExtFragment:
		return "ExtFragment"
	case ExtUnknown:
		return "ExtUnknown"
	}
	return "ExtResult(?)"
}

// SkipExtensions walks the Hop-by-Hop Options, Routing and Destination
// Options headers that follow the fixed header, in whatever order and
// number they appear, and returns the protocol of the first header that is
// not one of those, with its offset from the start of ip; see ExtResult for
// the outcomes. The walk is bounded by 40 + PayloadLen() and by len(ip), so
// it does not need IsValid to be safe (ExtTruncated if the fixed header
// itself is short). It terminates: every step advances by at least 8 bytes.
func (ip IPv6) SkipExtensions() (proto uint8, offset int, res ExtResult) {
	if len(ip) < IPv6Len {
		return 0, 0, ExtTruncated
	}
	end := min(IPv6Len+int(ip.PayloadLen()), len(ip))
	proto, offset = ip[ipv6NextHeader], IPv6Len
	for {
		switch proto {
		case IPv6HopByHop, IPv6Routing, IPv6DestOpts:
			if offset+ipv6ExtMinLen > end {
				return proto, offset, ExtTruncated
			}
			l := (int(ip[offset+extLen]) + 1) * 8
			if offset+l > end {
				return proto, offset, ExtTruncated
			}
			proto = ip[offset+extNextHeader]
			offset += l
		case IPv6Fragment:
			if offset+IPv6FragLen > end {
				return proto, offset, ExtTruncated
			}
			return proto, offset, ExtFragment
		case ipv6ESP, ipv6AH, ipv6Mobility, ipv6HIP, ipv6Shim6, ipv6Exp1, ipv6Exp2:
			return proto, offset, ExtUnknown
		default:
			return proto, offset, ExtOK
		}
	}
}

// IPv6Frag is an IPv6 fragment header, e.g. ip[offset:] after
// SkipExtensions returned ExtFragment. Its accessors need len >= IPv6FragLen.
type IPv6Frag []byte

// NextHeader returns the type of the header that follows the fragment
// header (in the first fragment).
func (f IPv6Frag) NextHeader() uint8 { return f[fragNextHeader] }

// FragmentOffset returns the fragment offset in 8-byte units.
func (f IPv6Frag) FragmentOffset() uint16 { return binary.BigEndian.Uint16(f[fragOffsetM:]) >> 3 }

// MoreFragments reports whether the M flag is set.
func (f IPv6Frag) MoreFragments() bool { return f[fragOffsetM+1]&1 != 0 }

// ID returns the 32-bit Identification.
func (f IPv6Frag) ID() uint32 { return binary.BigEndian.Uint32(f[fragID:]) }
