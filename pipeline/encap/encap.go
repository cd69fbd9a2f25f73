package encap

import (
	"encoding/binary"

	"dsrlb/conf"
	"dsrlb/pipeline/header"
)

const (
	// GUESourcePortBase and GUESourcePortRange: GUE source ports are
	// 49152..65535 (the dynamic range, RFC 6335).
	GUESourcePortBase  = 49152
	GUESourcePortRange = 16384
)

// Outer holds the addresses of the outer IP header: Src4 and Dst4 (the
// balancer's and the real server's IPv4 addresses) when V6 is false, Src6
// and Dst6 when it is true.
type Outer struct {
	Src4, Dst4 [4]byte
	Src6, Dst6 [16]byte
	V6         bool
}

// FlowLabel returns the 20-bit IPv6 flow label Encap puts in an outer IPv6
// header for flowHash: the hash's three low 20-bit slices XORed together,
// never 0 (RFC 6437 keeps 0 for unlabelled packets; 1 stands in for it).
func FlowLabel(flowHash uint64) uint32 {
	fl := uint32(flowHash^flowHash>>20^flowHash>>40) & 0xfffff
	if fl == 0 {
		fl = 1
	}
	return fl
}

// GUESourcePort returns the UDP source port of a GUE packet for flowHash:
// 49152 + flowHash % 16384.
func GUESourcePort(flowHash uint64) uint16 {
	return uint16(GUESourcePortBase + flowHash%GUESourcePortRange)
}

// l2Matches reports whether frame has an Ethernet header whose L3 header
// starts at l3 (14 untagged, 18 after one 802.1Q tag) with EtherType et,
// which is what header.ParseL2 returns for a frame it accepts.
func l2Matches(frame []byte, l3 int, et uint16) bool {
	switch l3 {
	case header.EthernetLen:
		return len(frame) >= header.EthernetLen &&
			binary.BigEndian.Uint16(frame[12:]) == et
	case header.EthernetLen + header.VLANTagLen:
		return len(frame) >= header.EthernetLen+header.VLANTagLen &&
			binary.BigEndian.Uint16(frame[12:]) == header.EtherTypeVLAN &&
			binary.BigEndian.Uint16(frame[16:]) == et
	}
	return false
}

// frameOK reports whether off and n describe a frame inside b.
func frameOK(b []byte, off, n int) bool {
	return off >= 0 && n >= 0 && off <= len(b) && n <= len(b)-off
}

// innerPacket validates the IP packet at frame[l3:] and returns its length
// (IPv4 Total Length, or 40 + IPv6 Payload Length) and its TOS or traffic
// class.
func innerPacket(frame []byte, l3 int, v6 bool) (length int, tos uint8, ok bool) {
	if v6 {
		if !l2Matches(frame, l3, header.EtherTypeIPv6) {
			return 0, 0, false
		}
		ip := header.IPv6(frame[l3:])
		if !ip.IsValid(len(ip)) {
			return 0, 0, false
		}
		return header.IPv6Len + int(ip.PayloadLen()), ip.TrafficClass(), true
	}
	if !l2Matches(frame, l3, header.EtherTypeIPv4) {
		return 0, 0, false
	}
	ip := header.IPv4(frame[l3:])
	if !ip.IsValid(len(ip)) {
		return 0, 0, false
	}
	return int(ip.TotalLen()), ip.TOS(), true
}

// Encap encapsulates, in place, the IP packet of the Ethernet frame
// b[off:off+n] for method m (see the package documentation for the wire
// formats). l3 is the offset of the inner IP header in the frame, as
// returned by header.ParseL2 (14, or 18 with an 802.1Q tag), innerV6 its IP
// version; o gives the outer addresses and version, flowHash the flow's hash
// (for the IPv6 flow label and the GUE source port), guePort the GUE
// destination port (ignored for the other methods).
//
// The Ethernet header moves back by m.Overhead(o.V6) bytes into the
// headroom and the outer headers go between it and the inner packet, which
// is not modified. The new frame is b[newOff:newOff+newN]; newN is
// l3 + Overhead + the inner packet's own length (any link-layer padding
// that followed it is dropped).
//
// ok is false, and nothing is written, when off < Overhead (headroom too
// small), when the frame does not have the announced Ethernet header and a
// valid IPv4 or IPv6 header of version innerV6 at l3, when the result would
// exceed the maximum IP packet length, when m or guePort (0) is invalid, o
// is nil, or for IPv6 in IPv4 with ipip (not a dsrlb format; use gre or
// gue). The inner packet is not otherwise checked: a fragment is carried
// like any other packet.
//
// The caller still has to rewrite the MAC addresses, and to check the MTU
// before calling: the inner packet's length (IPv4 Total Length, or 40 +
// IPv6 Payload Length) plus m.Overhead(o.V6) must not exceed the MTU of
// the path to the real server; if it does, answer with FragNeeded4 or
// PacketTooBig6 instead.
func Encap(b []byte, off, n, l3 int, innerV6 bool, m conf.Method, o *Outer, flowHash uint64, guePort uint16) (newOff, newN int, ok bool) {
	return EncapHW(b, off, n, l3, innerV6, m, o, flowHash, guePort, 0)
}

// Checksums a device computes on transmit (EncapHW's hw).
const (
	// HWIPv4Checksum: the outer IPv4 header's checksum is left 0 for the
	// device (RTE_MBUF_F_TX_IP_CKSUM).
	HWIPv4Checksum uint8 = 1 << iota
	// HWUDPChecksum: GUE's UDP checksum over IPv6 is left 0 for the
	// device (RTE_MBUF_F_TX_UDP_CKSUM; the driver's transmit preparation
	// adds what the device needs).
	HWUDPChecksum
)

// HWFor is the part of hw (what a port's device computes) that an
// encapsulation with method m and an outer header of family v6 uses.
func HWFor(hw uint8, m conf.Method, v6 bool) uint8 {
	switch {
	case !v6:
		return hw & HWIPv4Checksum
	case m == conf.MethodGUE:
		return hw & HWUDPChecksum
	}
	return 0
}

// EncapHW is Encap leaving the checksums of hw (HWFor's result for the
// method and outer family) to the device, which the caller asks for them.
func EncapHW(b []byte, off, n, l3 int, innerV6 bool, m conf.Method, o *Outer, flowHash uint64, guePort uint16, hw uint8) (newOff, newN int, ok bool) {
	if o == nil {
		return off, n, false
	}
	hdr := m.Overhead(o.V6)
	if hdr == 0 || off < hdr || !frameOK(b, off, n) ||
		!m.Carries(innerV6, o.V6) || (m == conf.MethodGUE && guePort == 0) {
		return off, n, false
	}
	frame := b[off : off+n]
	innerLen, tos, ok := innerPacket(frame, l3, innerV6)
	if !ok {
		return off, n, false
	}
	// The outer IPv4 Total Length, or the outer IPv6 Payload Length.
	outerLen := innerLen + hdr
	if o.V6 {
		outerLen -= header.IPv6Len
	}
	if outerLen > 0xffff {
		return off, n, false
	}
	var id uint16
	var df uint8 = header.IPv4FlagDF
	if !innerV6 {
		ip := header.IPv4(frame[l3:])
		id = ip.ID()
		if !ip.DontFragment() {
			df = 0
		}
	}

	// From here on nothing can fail. The Ethernet header moves back first
	// (it does not overlap its new place: l3 <= 18 < hdr), then the outer
	// headers fill the gap up to the inner packet at off+l3.
	newOff = off - hdr
	copy(b[newOff:newOff+l3], frame[:l3])
	out := b[newOff+l3 : off+l3]
	outerEt := uint16(header.EtherTypeIPv4)
	if o.V6 {
		outerEt = header.EtherTypeIPv6
	}
	binary.BigEndian.PutUint16(b[newOff+l3-2:], outerEt)

	innerProto := uint8(header.IPProtoIPv4)
	innerEt := uint16(header.EtherTypeIPv4)
	if innerV6 {
		innerProto, innerEt = header.IPProtoIPv6, header.EtherTypeIPv6
	}
	var proto uint8
	switch m {
	case conf.MethodIPIP:
		proto = innerProto
	case conf.MethodGRE:
		proto = header.IPProtoGRE
	default:
		proto = header.IPProtoUDP
	}

	var l4 []byte // the GRE or UDP header and the inner packet
	if o.V6 {
		f := header.IPv6Fields{
			TrafficClass: tos,
			FlowLabel:    FlowLabel(flowHash),
			PayloadLen:   uint16(outerLen),
			NextHeader:   proto,
			HopLimit:     64,
			Src:          o.Src6,
			Dst:          o.Dst6,
		}
		header.IPv6(out).Encode(&f)
		l4 = b[newOff+l3+header.IPv6Len : off+l3+innerLen]
	} else {
		putIPv4(out, tos, uint16(outerLen), id, df, proto, o.Src4, o.Dst4, hw&HWIPv4Checksum == 0)
		l4 = b[newOff+l3+header.IPv4MinLen : off+l3+innerLen]
	}

	switch m {
	case conf.MethodGRE:
		binary.BigEndian.PutUint32(l4, uint32(innerEt)) // flags and version 0
	case conf.MethodGUE:
		u := header.UDP(l4)
		u.Encode(GUESourcePort(flowHash), guePort, uint16(len(l4)), 0)
		if o.V6 && hw&HWUDPChecksum == 0 {
			s := header.PseudoHeaderSum6(o.Src6, o.Dst6, header.IPProtoUDP, uint32(len(l4)))
			if innerLen < lcoMinPacket {
				s = header.Checksum(l4, s) // one pass is cheapest
			} else {
				s = add32(header.Checksum(l4[:header.UDPLen], s), innerSum(l4[header.UDPLen:], innerV6))
			}
			ck := header.FoldChecksum(s)
			if ck == 0 {
				ck = 0xffff
			}
			u.SetChecksum(ck)
		}
	}
	return newOff, l3 + hdr + innerLen, true
}

// innerSum returns the ones' complement sum (unfolded) of the IP packet p,
// for the UDP checksum of GUE over IPv6. When p is an unfragmented TCP or
// UDP packet, its own L4 checksum already covers the segment: a correct
// checksum makes segment plus pseudo header sum to 0xffff, so the segment
// sums to the complement of the pseudo header, and only the IP header (with
// any IPv6 extension headers) is read. This is Linux's local checksum
// offload (Documentation/networking/checksum-offloads.rst); a packet whose
// inner checksum is wrong gets an outer checksum that is wrong too, and is
// dropped by whichever of the two the receiver checks. Other packets are
// summed in full.
func innerSum(p []byte, v6 bool) uint32 {
	var hl int
	var proto uint8
	var pseudo uint32
	if v6 {
		ip := header.IPv6(p)
		pr, off, res := ip.SkipExtensions()
		if res != header.ExtOK {
			return header.Checksum(p, 0)
		}
		hl, proto = off, pr
		pseudo = header.PseudoHeaderSum6(ip.Src(), ip.Dst(), pr, uint32(len(p)-off))
	} else {
		ip := header.IPv4(p)
		if ip.IsFragment() {
			return header.Checksum(p, 0)
		}
		hl, proto = ip.HeaderLen(), ip.Protocol()
		pseudo = header.PseudoHeaderSum4(ip.Src(), ip.Dst(), proto, uint16(len(p)-hl))
	}
	switch {
	case proto == header.IPProtoTCP && len(p)-hl >= header.TCPMinLen:
	case proto == header.IPProtoUDP && len(p)-hl >= header.UDPLen && header.UDP(p[hl:]).Checksum() != 0:
	default:
		return header.Checksum(p, 0)
	}
	return header.Checksum(p[:hl], uint32(header.FoldChecksum(pseudo)))
}

// lcoMinPacket is the shortest inner packet whose sum is taken from its
// own checksum (innerSum): below it, one pass over the bytes is cheaper
// (measured with BenchmarkEncap).
const lcoMinPacket = 128

// add32 adds two unfolded ones' complement sums.
func add32(a, b uint32) uint32 {
	s := uint64(a) + uint64(b)
	return uint32(s>>32 + s&0xffffffff)
}

// putIPv4 writes the 20-byte outer IPv4 header (TTL 64, no options) into h
// with its checksum (or 0 without csum, for the device). It is
// header.IPv4.Encode with the checksum summed from the field values rather
// than from the written bytes, which halves the cost of an IPv4
// encapsulation.
func putIPv4(h []byte, tos uint8, totalLen, id uint16, flags, proto uint8, src, dst [4]byte, csum bool) {
	_ = h[header.IPv4MinLen-1]
	w0 := uint32(0x45)<<24 | uint32(tos)<<16 | uint32(totalLen)
	w1 := uint32(id)<<16 | uint32(flags)<<13
	w2 := uint32(64)<<24 | uint32(proto)<<16 // checksum 0 for now
	s, d := binary.BigEndian.Uint32(src[:]), binary.BigEndian.Uint32(dst[:])
	binary.BigEndian.PutUint32(h[0:], w0)
	binary.BigEndian.PutUint32(h[4:], w1)
	sum := uint64(w0) + uint64(w1) + uint64(w2) + uint64(s) + uint64(d)
	// Summing 32-bit words is summing their 16-bit halves (2^16 = 1 mod
	// 2^16-1); fold the carries down to 16 bits.
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	if !csum {
		sum = 0xffff // written as 0
	}
	binary.BigEndian.PutUint32(h[8:], w2|uint32(^uint16(sum)))
	binary.BigEndian.PutUint32(h[12:], s)
	binary.BigEndian.PutUint32(h[16:], d)
}
