package encap

import (
	"encoding/binary"

	"dsrlb/pipeline/header"
)

const (
	// FragNeededOverhead is what FragNeeded4 puts before the quoted
	// header: an IPv4 header and the 8-byte ICMP header.
	FragNeededOverhead = header.IPv4MinLen + header.ICMPv4MinLen
	// PacketTooBigOverhead is the same for PacketTooBig6.
	PacketTooBigOverhead = header.IPv6Len + header.ICMPv6MinLen

	// IPv6MinMTU is the minimum IPv6 link MTU (RFC 8200 section 5), the
	// largest IPv6 packet PacketTooBig6 builds.
	IPv6MinMTU = 1280

	// fragNeededQuote is how much of the original payload FragNeeded4
	// quotes after its IP header (RFC 792: 64 bits).
	fragNeededQuote = 8

	// tosNetworkControl is the TOS of the ICMPv4 errors: precedence 6,
	// internetwork control (RFC 1812 section 4.3.2.5), DSCP CS6.
	tosNetworkControl = 0xc0

	icmpTTL = 64
)

// unicast4 reports whether a can be the source of a packet that gets an
// ICMP error (RFC 1122 section 3.2.2): not in 0/8 ("this network"), not
// loopback (127/8), not multicast or reserved/broadcast (224/3).
func unicast4(a [4]byte) bool {
	return a[0] != 0 && a[0] != 127 && a[0] < 224
}

// unicast6 reports whether a can be the source of a packet that gets an
// ICMPv6 error (RFC 4443 section 2.4 (e)): not the unspecified address,
// not loopback, not multicast (ff00::/8).
func unicast6(a [16]byte) bool {
	if a[0] == 0xff {
		return false
	}
	var z [15]byte
	return [15]byte(a[:15]) != z || a[15] > 1
}

// icmpv4Error reports whether an ICMPv4 type is an error message or
// unknown (types 3, 4, 5, 11, 12 and above 18), as Linux counts them.
func icmpv4Error(t uint8) bool {
	switch t {
	case header.ICMPv4DestUnreachable, 4, 5, header.ICMPv4TimeExceeded, 12:
		return true
	}
	return t > 18
}

// placeError makes room for an ICMP error of hdr bytes (IP plus ICMP
// header) between the Ethernet header of frame b[off:off+n] (L3 at l3) and
// the quote, the first quote bytes of the original IP packet, and returns
// the new frame's offset. If the headroom allows, the Ethernet header moves
// back by hdr and the quote stays where it is; otherwise the quote moves
// forward by hdr, which needs b to extend to the new frame's end. ok is
// false, with nothing written, when neither fits.
func placeError(b []byte, off, l3, hdr, quote int) (newOff int, ok bool) {
	switch {
	case off >= hdr:
		copy(b[off-hdr:off-hdr+l3], b[off:off+l3])
		return off - hdr, true
	case l3+hdr+quote <= len(b)-off:
		q := off + l3
		copy(b[q+hdr:q+hdr+quote], b[q:q+quote])
		return off, true
	}
	return off, false
}

// replyEthernet turns the Ethernet header at the start of f into that of
// a reply sent from port MAC portMAC: the destination becomes the original
// source. An 802.1Q tag and the EtherType are kept.
func replyEthernet(f []byte, portMAC header.MAC) {
	e := header.Ethernet(f)
	e.SetDst(e.Src())
	e.SetSrc(portMAC)
}

// FragNeeded4 turns, in place, the IPv4 packet of the Ethernet frame
// b[off:off+n] (IPv4 header at l3, from header.ParseL2) into the ICMP
// Destination Unreachable, fragmentation needed and DF set (type 3 code 4,
// RFC 792, RFC 1191) that tells its sender the packet does not fit a path
// whose MTU is mtu (bytes 6-7 of the ICMP header, "Next-Hop MTU"). Call it
// for a packet with DF set that is larger than mtu; a packet without DF
// should be fragmented or dropped instead, FragNeeded4 does not check.
// For an encapsulating method, mtu is the path MTU minus Overhead.
//
// The reply goes back the way the packet came: Ethernet destination = the
// packet's source MAC, source = portMAC, an 802.1Q tag kept; IPv4 source
// own (the balancer's address), destination the packet's source, TOS 0xC0
// (internetwork control, RFC 1812), ID 0 with DF set, TTL 64, protocol 1,
// no options; the ICMP payload is the original IP header (options
// included) and the first 8 bytes of its payload (fewer if it has fewer),
// RFC 792. Checksums are computed. The result is b[newOff:newOff+newN],
// newN = l3 + 28 + the quote; it can be shorter than the 60-byte Ethernet
// minimum (at most 98 bytes with a tag), which the NIC pads.
//
// The Ethernet header moves back 28 bytes into the headroom, so the quote
// needs no copy; with less headroom the quote moves forward instead, which
// needs b to hold the new frame from off on (the frame being too large, it
// normally does).
//
// ok is false, nothing written, when the frame has no valid IPv4 header at
// l3, or where RFC 1122 section 3.2.2 forbids the error: the packet is an
// ICMP error message (or of an unknown ICMP type), a fragment other than
// the first, from a source that is not a unicast address (0/8, 127/8,
// 224/3), to a multicast or broadcast address (224/3), or in a multicast or
// broadcast Ethernet frame; and when neither headroom nor tailroom suffice.
func FragNeeded4(b []byte, off, n, l3 int, own [4]byte, portMAC header.MAC, mtu uint16) (newOff, newN int, ok bool) {
	if !frameOK(b, off, n) {
		return off, n, false
	}
	frame := b[off : off+n]
	if !l2Matches(frame, l3, header.EtherTypeIPv4) || header.Ethernet(frame).Dst().IsMulticast() {
		return off, n, false
	}
	ip := header.IPv4(frame[l3:])
	if !ip.IsValid(len(ip)) || ip.FragmentOffset() != 0 || !unicast4(ip.Src()) || ip.Dst()[0] >= 224 {
		return off, n, false
	}
	hl, tl := ip.HeaderLen(), int(ip.TotalLen())
	if ip.Protocol() == header.IPProtoICMP && tl > hl && icmpv4Error(ip[hl]) {
		return off, n, false
	}
	quote := hl + min(fragNeededQuote, tl-hl)
	newOff, ok = placeError(b, off, l3, FragNeededOverhead, quote)
	if !ok {
		return off, n, false
	}
	newN = l3 + FragNeededOverhead + quote
	f := b[newOff : newOff+newN]
	replyEthernet(f, portMAC)
	orig := header.IPv4(f[l3+FragNeededOverhead:])
	fields := header.IPv4Fields{
		TOS:      tosNetworkControl,
		TotalLen: uint16(FragNeededOverhead + quote),
		Flags:    header.IPv4FlagDF,
		TTL:      icmpTTL,
		Protocol: header.IPProtoICMP,
		Src:      own,
		Dst:      orig.Src(),
	}
	header.IPv4(f[l3:]).Encode(&fields)
	c := f[l3+header.IPv4MinLen:]
	c[0], c[1] = header.ICMPv4DestUnreachable, header.ICMPv4FragNeededCode
	binary.BigEndian.PutUint32(c[2:], 0) // checksum, unused
	binary.BigEndian.PutUint16(c[6:], mtu)
	header.ICMPv4(c).SetChecksum(header.FoldChecksum(header.Checksum(c, 0)))
	return newOff, newN, true
}

// PacketTooBig6 turns, in place, the IPv6 packet of the Ethernet frame
// b[off:off+n] (IPv6 header at l3, from header.ParseL2) into the ICMPv6
// Packet Too Big message (type 2 code 0, RFC 4443 section 3.2) that tells
// its sender the packet does not fit a path whose MTU is mtu. For an
// encapsulating method, mtu is the path MTU minus Overhead; note that IPv6
// hosts take an MTU below 1280 as 1280 (RFC 8201), so the path to the real
// servers needs at least 1280 + Overhead.
//
// The reply goes back the way the packet came: Ethernet destination = the
// packet's source MAC, source = portMAC, an 802.1Q tag kept; IPv6 source
// own, destination the packet's source, traffic class and flow label 0,
// hop limit 64, no extension headers; the ICMPv6 payload is as much of the
// original IPv6 packet as keeps the reply within 1280 bytes (1232 bytes).
// The checksum includes the pseudo header. The result is
// b[newOff:newOff+newN], newN = l3 + 48 + the quote.
//
// Room is made as in FragNeeded4, with 48 bytes. ok is false, nothing
// written, when the frame has no valid IPv6 header at l3, or where RFC
// 4443 section 2.4 (e) forbids the error: the packet is an ICMPv6 error
// message (type below 128, when its ICMPv6 header can be found behind the
// extension headers) or its source is unspecified, loopback or multicast;
// and when neither headroom nor tailroom suffice. A multicast destination
// is allowed for Packet Too Big.
func PacketTooBig6(b []byte, off, n, l3 int, own [16]byte, portMAC header.MAC, mtu uint32) (newOff, newN int, ok bool) {
	if !frameOK(b, off, n) {
		return off, n, false
	}
	frame := b[off : off+n]
	if !l2Matches(frame, l3, header.EtherTypeIPv6) {
		return off, n, false
	}
	ip := header.IPv6(frame[l3:])
	if !ip.IsValid(len(ip)) || !unicast6(ip.Src()) {
		return off, n, false
	}
	pkt := header.IPv6Len + int(ip.PayloadLen())
	if proto, l4, res := ip.SkipExtensions(); res == header.ExtOK && proto == header.IPProtoICMPv6 &&
		l4 < pkt && ip[l4] < header.ICMPv6EchoRequest {
		return off, n, false
	}
	quote := min(pkt, IPv6MinMTU-PacketTooBigOverhead)
	newOff, ok = placeError(b, off, l3, PacketTooBigOverhead, quote)
	if !ok {
		return off, n, false
	}
	newN = l3 + PacketTooBigOverhead + quote
	f := b[newOff : newOff+newN]
	replyEthernet(f, portMAC)
	dst := header.IPv6(f[l3+PacketTooBigOverhead:]).Src()
	fields := header.IPv6Fields{
		PayloadLen: uint16(header.ICMPv6MinLen + quote),
		NextHeader: header.IPProtoICMPv6,
		HopLimit:   icmpTTL,
		Src:        own,
		Dst:        dst,
	}
	header.IPv6(f[l3:]).Encode(&fields)
	c := f[l3+header.IPv6Len:]
	c[0], c[1] = header.ICMPv6PacketTooBig, 0
	c[2], c[3] = 0, 0
	binary.BigEndian.PutUint32(c[4:], mtu)
	s := header.Checksum(c, header.PseudoHeaderSum6(own, dst, header.IPProtoICMPv6, uint32(len(c))))
	header.ICMPv6(c).SetChecksum(header.FoldChecksum(s))
	return newOff, newN, true
}
