package header

import "encoding/binary"

// ICMPv4 echo request/reply (RFC 792):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data ...
//	+-+-+-+-+-
//
// Destination unreachable, fragmentation needed (RFC 1191 section 4):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Type = 3    |   Code = 4    |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           unused = 0          |         Next-Hop MTU          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Internet Header + 64 bits of Original Datagram Data      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpIdent    = 4
	icmpSeq      = 6
	icmpv4MTU    = 6
	icmpPayload  = 8
)

// ICMPv4 constants.
const (
	ICMPv4MinLen = 8

	ICMPv4EchoReply       = 0
	ICMPv4DestUnreachable = 3
	ICMPv4EchoRequest     = 8
	ICMPv4TimeExceeded    = 11

	// ICMPv4FragNeededCode is the Destination Unreachable code for
	// "fragmentation needed and DF set".
	ICMPv4FragNeededCode = 4
)

// ICMPChecksumOffset is the offset of the checksum field in ICMPv4 and
// ICMPv6 messages, for L4Checksum4 and L4Checksum6.
const ICMPChecksumOffset = icmpChecksum

// ICMPv4 is an ICMPv4 message, e.g. IPv4.Payload(). Call IsValid before any
// other method.
type ICMPv4 []byte

// IsValid reports whether the 8-byte ICMP header fits in n bytes (n is capped
// at len(c)). The checksum is not verified.
func (c ICMPv4) IsValid(n int) bool { return min(n, len(c)) >= ICMPv4MinLen }

// Type returns the message type.
func (c ICMPv4) Type() uint8 { return c[icmpType] }

// Code returns the message code.
func (c ICMPv4) Code() uint8 { return c[icmpCode] }

// Checksum returns the checksum field.
func (c ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(c[icmpChecksum:]) }

// SetChecksum sets the checksum field.
func (c ICMPv4) SetChecksum(ck uint16) { binary.BigEndian.PutUint16(c[icmpChecksum:], ck) }

// SetType sets the type; the checksum is not updated.
func (c ICMPv4) SetType(t uint8) { c[icmpType] = t }

// SetCode sets the code; the checksum is not updated.
func (c ICMPv4) SetCode(code uint8) { c[icmpCode] = code }

// SetTypeWithChecksumUpdate sets the type (e.g. echo request to echo reply)
// and updates the checksum incrementally. c must end where the ICMP message
// ends (as IPv4.Payload does), because of the one case an incremental
// update gets wrong: a message that is all zero bits after the change (echo
// reply, code 0, identifier, sequence number and data all zero) needs the
// checksum 0xFFFF, where the update gives 0x0000 (see UpdateChecksum16).
// When the update gives 0x0000 the message is scanned and fixed; that
// happens for about one message in 65536.
func (c ICMPv4) SetTypeWithChecksumUpdate(t uint8) {
	old := binary.BigEndian.Uint16(c[icmpType:])
	c[icmpType] = t
	ck := UpdateChecksum16(c.Checksum(), old, binary.BigEndian.Uint16(c[icmpType:]))
	if ck == 0 && allZero(c[:icmpChecksum]) && allZero(c[icmpChecksum+2:]) {
		ck = 0xffff
	}
	c.SetChecksum(ck)
}

func allZero(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}

// Ident returns the echo identifier (bytes 4-5).
func (c ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(c[icmpIdent:]) }

// Seq returns the echo sequence number (bytes 6-7).
func (c ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(c[icmpSeq:]) }

// MTU returns the Next-Hop MTU of a fragmentation-needed message (bytes 6-7).
func (c ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(c[icmpv4MTU:]) }

// SetMTU sets the Next-Hop MTU (bytes 6-7); the checksum is not updated.
func (c ICMPv4) SetMTU(mtu uint16) { binary.BigEndian.PutUint16(c[icmpv4MTU:], mtu) }

// Payload returns the bytes after the 8-byte header: echo data, or the
// original IP header and data of an error message. It runs to the end of c,
// so pass a c bounded by the IP payload.
func (c ICMPv4) Payload() []byte { return c[icmpPayload:] }

// ICMPv6 Neighbor Solicitation (RFC 4861 section 4.3) and Neighbor
// Advertisement (section 4.4, which has the R, S and O flags at the start of
// the Reserved field):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|S|O|                     Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+                       Target Address                          +
//	|                                                               |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options ...
//	+-+-+-+-+-+-+-+-+-+-+-+-
//
// Source/Target Link-layer Address option (RFC 4861 section 4.6.1); Length
// is in units of 8 octets and covers Type and Length:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |    Length     |    Link-Layer Address ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Packet Too Big (RFC 4443 section 3.2) has a 32-bit MTU at offset 4; echo
// (section 4) has Identifier and Sequence Number there, as in ICMPv4.
const (
	icmpv6MTU       = 4
	ndpNAFlags      = 4
	ndpTarget       = 8
	ndpOptions      = 24
	ndpOptType      = 0
	ndpOptLen       = 1
	ndpOptLLAddr    = 2
	ndpOptUnit      = 8
	ndpLLOptionSize = 8 // Ethernet: 2 + 6 bytes, exactly one unit
)

// ICMPv6 constants.
const (
	ICMPv6MinLen = 8
	// NDPMinLen is the length of an NS or NA message without options.
	NDPMinLen = ndpOptions

	ICMPv6DestUnreachable = 1
	ICMPv6PacketTooBig    = 2
	ICMPv6TimeExceeded    = 3
	ICMPv6EchoRequest     = 128
	ICMPv6EchoReply       = 129
	ICMPv6RouterSolicit   = 133
	ICMPv6RouterAdvert    = 134
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136

	// NDP option types for link-layer addresses.
	NDPOptSourceLinkLayer = 1
	NDPOptTargetLinkLayer = 2

	// Neighbor Advertisement flags, as returned by NAFlags.
	NAFlagRouter    = 0x80
	NAFlagSolicited = 0x40
	NAFlagOverride  = 0x20
)

// ICMPv6 is an ICMPv6 message, e.g. the upper-layer part of an IPv6 packet
// after SkipExtensions. Call IsValid (and IsValidNDP for the NDP accessors)
// before any other method.
type ICMPv6 []byte

// IsValid reports whether the 8-byte ICMPv6 header fits in n bytes (n is
// capped at len(c)). The checksum is not verified.
func (c ICMPv6) IsValid(n int) bool { return min(n, len(c)) >= ICMPv6MinLen }

// IsValidNDP reports whether an NS/NA body (header plus target address,
// NDPMinLen bytes) fits in n bytes (n is capped at len(c)). The type is not
// checked.
func (c ICMPv6) IsValidNDP(n int) bool { return min(n, len(c)) >= NDPMinLen }

// Type returns the message type.
func (c ICMPv6) Type() uint8 { return c[icmpType] }

// Code returns the message code.
func (c ICMPv6) Code() uint8 { return c[icmpCode] }

// Checksum returns the checksum field.
func (c ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(c[icmpChecksum:]) }

// SetChecksum sets the checksum field.
func (c ICMPv6) SetChecksum(ck uint16) { binary.BigEndian.PutUint16(c[icmpChecksum:], ck) }

// SetType sets the type; the checksum is not updated.
func (c ICMPv6) SetType(t uint8) { c[icmpType] = t }

// SetCode sets the code; the checksum is not updated.
func (c ICMPv6) SetCode(code uint8) { c[icmpCode] = code }

// SetTypeWithChecksumUpdate sets the type and updates the checksum
// incrementally (the pseudo header is unaffected by the type).
func (c ICMPv6) SetTypeWithChecksumUpdate(t uint8) {
	old := binary.BigEndian.Uint16(c[icmpType:])
	c[icmpType] = t
	c.SetChecksum(UpdateChecksum16(c.Checksum(), old, binary.BigEndian.Uint16(c[icmpType:])))
}

// Ident returns the echo identifier (bytes 4-5).
func (c ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(c[icmpIdent:]) }

// Seq returns the echo sequence number (bytes 6-7).
func (c ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(c[icmpSeq:]) }

// MTU returns the 32-bit MTU of a Packet Too Big message (bytes 4-7).
func (c ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(c[icmpv6MTU:]) }

// SetMTU sets the MTU of a Packet Too Big message; checksum not updated.
func (c ICMPv6) SetMTU(mtu uint32) { binary.BigEndian.PutUint32(c[icmpv6MTU:], mtu) }

// NAFlags returns byte 4 of a Neighbor Advertisement: NAFlagRouter,
// NAFlagSolicited, NAFlagOverride (the other bits are reserved).
func (c ICMPv6) NAFlags() uint8 { return c[ndpNAFlags] }

// SetNAFlags sets byte 4 of a Neighbor Advertisement; checksum not updated.
func (c ICMPv6) SetNAFlags(f uint8) { c[ndpNAFlags] = f }

// NDPTarget returns the Target Address of an NS or NA (needs IsValidNDP).
func (c ICMPv6) NDPTarget() [16]byte { return [16]byte(c[ndpTarget : ndpTarget+16]) }

// SetNDPTarget sets the Target Address of an NS or NA; checksum not updated.
func (c ICMPv6) SetNDPTarget(a [16]byte) { copy(c[ndpTarget:ndpTarget+16], a[:]) }

// NDPLinkLayerOption looks through the options of an NS or NA message of n
// bytes (n is capped at len(c); the options are c[24:n]) for the first
// link-layer address option of type optType (NDPOptSourceLinkLayer or
// NDPOptTargetLinkLayer) and returns its Ethernet address.
//
// ok is false when there is no such option, or when any option is malformed:
// length 0 (which RFC 4861 section 4.6 says invalidates the packet, and
// which would otherwise never advance) or running past n. All options are checked, not only those before
// the match, as the RFC requires the whole packet to be discarded. The walk
// advances at least 8 bytes per option, so it always terminates.
func (c ICMPv6) NDPLinkLayerOption(n int, optType uint8) (mac MAC, ok bool) {
	n = min(n, len(c))
	found := false
	for off := ndpOptions; off < n; {
		if off+2 > n {
			return MAC{}, false
		}
		l := int(c[off+ndpOptLen]) * ndpOptUnit
		if l == 0 || off+l > n {
			return MAC{}, false
		}
		if !found && c[off+ndpOptType] == optType {
			// l >= 8 here, enough for type, length and 6 bytes.
			mac = MAC(c[off+ndpOptLLAddr : off+ndpOptLLAddr+6])
			found = true
		}
		off += l
	}
	if !found {
		return MAC{}, false
	}
	return mac, true
}

// PutNDPLinkLayerOption writes an 8-byte link-layer address option of type
// optType carrying m into b and returns 8, or 0 if b is shorter than 8.
func PutNDPLinkLayerOption(b []byte, optType uint8, m MAC) int {
	if len(b) < ndpLLOptionSize {
		return 0
	}
	b[ndpOptType] = optType
	b[ndpOptLen] = ndpLLOptionSize / ndpOptUnit
	copy(b[ndpOptLLAddr:ndpLLOptionSize], m[:])
	return ndpLLOptionSize
}
