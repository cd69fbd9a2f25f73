package header

import "encoding/binary"

// Neighbour Discovery (RFC 4861) messages as dsrlb sends them: a Neighbor
// Solicitation or Advertisement with exactly one link-layer address option
// (source for NS, target for NA), in an IPv6 header without extension
// headers and with hop limit 255, which receivers require (section 7.1).

// NDPLen is the length of the IPv6 packet PutNDP writes: the fixed header,
// the NS/NA body and one 8-byte link-layer address option.
const NDPLen = IPv6Len + NDPMinLen + ndpLLOptionSize

// NDPFrameLen is the length of the untagged Ethernet frame BuildNDP writes.
const NDPFrameLen = EthernetLen + NDPLen

// NDPHopLimit is the hop limit of every NDP message (RFC 4861 section 7.1).
const NDPHopLimit = 255

// AllNodes6 is the link-local all-nodes multicast address ff02::1.
var AllNodes6 = [16]byte{0xff, 0x02, 15: 1}

// SolicitedNode6 returns the solicited-node multicast address of a,
// ff02::1:ff00:0/104 plus a's low 24 bits (RFC 4291 section 2.7.1), where
// a Neighbor Solicitation for a is sent.
func SolicitedNode6(a [16]byte) [16]byte {
	return [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// MulticastMAC6 returns the Ethernet address of IPv6 multicast address a:
// 33:33 and a's low 32 bits (RFC 2464 section 7).
func MulticastMAC6(a [16]byte) MAC {
	return MAC{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// PutNDP writes an IPv6 packet carrying a Neighbor Solicitation (typ
// ICMPv6NeighborSolicit, with a source link-layer address option) or
// Advertisement (ICMPv6NeighborAdvert, with a target link-layer address
// option and naFlags) into b, with the checksum, and returns NDPLen. mac is
// the link-layer address the option carries. If b is shorter than NDPLen
// or typ is neither, nothing is written and 0 is returned.
func PutNDP(b []byte, typ uint8, mac MAC, src, dst, target [16]byte, naFlags uint8) int {
	if len(b) < NDPLen || (typ != ICMPv6NeighborSolicit && typ != ICMPv6NeighborAdvert) {
		return 0
	}
	b = b[:NDPLen]
	ip := IPv6(b)
	binary.BigEndian.PutUint32(ip[ipv6VerTCFlow:], 6<<28)
	ip.SetPayloadLen(NDPLen - IPv6Len)
	ip[ipv6NextHeader] = IPProtoICMPv6
	ip[ipv6HopLimit] = NDPHopLimit
	ip.SetSrc(src)
	ip.SetDst(dst)
	c := ICMPv6(b[IPv6Len:])
	c[icmpType] = typ
	c[icmpCode] = 0
	binary.BigEndian.PutUint32(c[4:8], 0) // NA flags and reserved bits
	opt := uint8(NDPOptSourceLinkLayer)
	if typ == ICMPv6NeighborAdvert {
		c[ndpNAFlags] = naFlags
		opt = NDPOptTargetLinkLayer
	}
	c.SetChecksum(0) // while summing
	c.SetNDPTarget(target)
	PutNDPLinkLayerOption(c[ndpOptions:], opt, mac)
	s := Checksum(c, PseudoHeaderSum6(src, dst, IPProtoICMPv6, uint32(len(c))))
	c.SetChecksum(FoldChecksum(s))
	return NDPLen
}

// BuildNDP writes an untagged Ethernet frame from srcMAC to dstMAC carrying
// PutNDP's packet, whose option carries srcMAC, and returns NDPFrameLen, or
// 0 (nothing written) when b is too short or typ invalid.
func BuildNDP(b []byte, typ uint8, srcMAC, dstMAC MAC, src, dst, target [16]byte, naFlags uint8) int {
	if len(b) < NDPFrameLen || PutNDP(b[EthernetLen:], typ, srcMAC, src, dst, target, naFlags) == 0 {
		return 0
	}
	e := Ethernet(b)
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	e.SetType(EtherTypeIPv6)
	return NDPFrameLen
}
