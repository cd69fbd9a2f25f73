package pipeline

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"dsrlb/pipeline/header"
)

// ipv6 handles an IPv6 packet: neighbour discovery and echo for the VIPs and
// the own address, the exception path for the own address, and
// classification of packets to IPv6 services. Hop-by-hop, routing and
// destination options headers are skipped (a routing header is not acted
// upon: the balancer is the VIP's final stop); fragments and other
// extension headers to a VIP are counted drops.
func (w *Worker) ipv6(s *Snapshot, p *Packet, f []byte, l3 int) Verdict {
	ip := header.IPv6(f[l3:])
	if !ip.IsValid(len(ip)) {
		return DropMalformed
	}
	end := header.IPv6Len + int(ip.PayloadLen())
	proto, off, res := ip.SkipExtensions()
	if res == header.ExtTruncated {
		return DropMalformed
	}
	dh, dl := binary.BigEndian.Uint64(ip[24:32]), binary.BigEndian.Uint64(ip[32:40])
	icmp := res == header.ExtOK && proto == header.IPProtoICMPv6
	if dh>>56 == 0xff { // multicast: neighbour discovery, VRRP
		if icmp {
			if t := icmpType6(ip, off, end); t == header.ICMPv6NeighborSolicit || t == header.ICMPv6NeighborAdvert {
				return w.ndp(s, p, f, l3, off, end)
			}
		}
		if res == header.ExtOK && proto == ipProtoVRRP && dh == vrrpGroup6h && dl == vrrpGroup6l && s.kernel {
			return ToKernel
		}
		return DropNotVIP
	}
	if s.has6 && dh == s.own6h && dl == s.own6l {
		if icmp {
			switch icmpType6(ip, off, end) {
			case header.ICMPv6EchoRequest:
				return echo6(s, p, f, l3, off, end)
			case header.ICMPv6NeighborSolicit, header.ICMPv6NeighborAdvert:
				return w.ndp(s, p, f, l3, off, end)
			}
		}
		if s.kernel {
			return ToKernel
		}
		return DropOwnAddress
	}
	num, ok := s.vip6.lookup(dh, dl)
	if !ok {
		return DropNotVIP
	}
	switch res {
	case header.ExtFragment:
		return DropFragment
	case header.ExtUnknown:
		return DropIPv6Ext
	}
	l4 := ip[off:end]
	switch proto {
	case header.IPProtoTCP:
		if !header.TCP(l4).IsValid(len(l4)) {
			return DropMalformed
		}
	case header.IPProtoUDP:
		if !header.UDP(l4).IsValid(len(l4)) {
			return DropMalformed
		}
	case header.IPProtoICMPv6:
		switch icmpType6(ip, off, end) {
		case header.ICMPv6EchoRequest:
			return echo6(s, p, f, l3, off, end)
		case header.ICMPv6NeighborSolicit, header.ICMPv6NeighborAdvert:
			return w.ndp(s, p, f, l3, off, end)
		}
		return DropICMPNotEcho
	default:
		return DropNoService
	}
	sport := binary.BigEndian.Uint16(l4[0:])
	dport := binary.BigEndian.Uint16(l4[2:])
	idx, ok := s.classify.lookup(serviceKey6(num, proto, dport))
	if !ok {
		if idx, ok = s.classify.lookup(serviceKey6(num, proto, 0)); !ok {
			return DropNoService
		}
	}
	sh, sl := binary.BigEndian.Uint64(ip[8:16]), binary.BigEndian.Uint64(ip[16:24])
	p.svc = idx
	p.l3 = uint16(l3)
	p.v6 = true
	p.inPort = p.OutPort
	p.udp, p.tcpFlags = proto == header.IPProtoUDP, 0
	if !p.udp {
		p.tcpFlags = l4[13] // a valid TCP header has 20 bytes or more
	}
	p.flow = ctKey(FlowHash6(sh, sl, dh, dl, sport, dport, proto))
	prefetch(unsafe.Pointer(&w.ct.bucket(p.flow)[0]))
	return scheduled
}

// VRRP for IPv6 goes to ff02::12 (RFC 5798 section 5.1.2.2).
const (
	vrrpGroup6h = 0xff02000000000000
	vrrpGroup6l = 0x12
)

// icmpType6 returns the type of the ICMPv6 message at ip[off:end], or 0
// (no such type) when it has no complete header.
func icmpType6(ip header.IPv6, off, end int) uint8 {
	if end-off < header.ICMPv6MinLen {
		return 0
	}
	return ip[off]
}

// echo6 turns an ICMPv6 echo request into the reply in place. Extension
// headers of the request are not echoed: the ICMPv6 message moves up to
// follow the fixed header. Swapping the addresses leaves the pseudo-header
// sum unchanged, so only the type change is patched into the checksum.
func echo6(s *Snapshot, p *Packet, f []byte, l3, off, end int) Verdict {
	ip := header.IPv6(f[l3:])
	c := header.ICMPv6(ip[off:end])
	if !c.IsValid(len(c)) {
		return DropMalformed
	}
	if c.Type() != header.ICMPv6EchoRequest || c.Code() != 0 {
		return DropICMPNotEcho
	}
	if off != header.IPv6Len {
		n := copy(ip[header.IPv6Len:], ip[off:end])
		ip.SetPayloadLen(uint16(n))
		ip.SetNextHeader(header.IPProtoICMPv6)
		end = header.IPv6Len + n
		p.Len = l3 + end
		c = header.ICMPv6(ip[header.IPv6Len:end])
	}
	src, dst := ip.Src(), ip.Dst()
	ip.SetSrc(dst)
	ip.SetDst(src)
	ip.SetHopLimit(64)
	c.SetTypeWithChecksumUpdate(header.ICMPv6EchoReply)
	eth := header.Ethernet(f)
	eth.SetDst(eth.Src())
	eth.SetSrc(s.portMACs[p.OutPort&(MaxPorts-1)])
	return EchoReply
}

// ndp handles a Neighbor Solicitation or Advertisement. Messages that fail
// RFC 4861's validation (section 7.1: hop limit 255, code 0, length,
// checksum) are malformed; extension headers are not expected on them. The
// link-layer address of a tracked neighbour (from an NS's source option, or
// an NA's target option) goes to the resolver. A solicitation for a VIP or
// the own address is answered in place; NAs to the own address also go to
// the kernel, which may have asked.
func (w *Worker) ndp(s *Snapshot, p *Packet, f []byte, l3, off, end int) Verdict {
	ip := header.IPv6(f[l3:])
	if off != header.IPv6Len {
		return DropNDPIgnored
	}
	c := header.ICMPv6(ip[off:end])
	n := len(c)
	if ip.HopLimit() != header.NDPHopLimit || c.Code() != 0 || !c.IsValidNDP(n) {
		return DropMalformed
	}
	src, dst := ip.Src(), ip.Dst()
	if header.FoldChecksum(header.Checksum(c, header.PseudoHeaderSum6(src, dst, header.IPProtoICMPv6, uint32(n)))) != 0 {
		return DropBadChecksum
	}
	target := c.NDPTarget()
	if target[0] == 0xff {
		return DropMalformed // a multicast target is invalid in NS and NA
	}
	th, tl := split6(target)
	learned := false
	if c.Type() == header.ICMPv6NeighborSolicit {
		dad := src == [16]byte{}
		mac, hasMAC := c.NDPLinkLayerOption(n, header.NDPOptSourceLinkLayer)
		if dad && hasMAC {
			return DropMalformed // RFC 4861 section 7.1.1
		}
		if hasMAC && !mac.IsMulticast() && !mac.IsZero() {
			if _, tracked := s.neigh6.lookup(split6(src)); tracked {
				learned = true
				w.learn(netip.AddrFrom16(src), mac, p.OutPort)
			}
		}
		ours := s.has6 && th == s.own6h && tl == s.own6l
		if !ours {
			_, ours = s.vip6.lookup(th, tl)
			if ours && !s.answers6(th, tl) {
				return DropNDPBackup
			}
		}
		if ours {
			return w.advertise(s, p, l3, target, src, mac, hasMAC, dad)
		}
	} else {
		if _, tracked := s.neigh6.lookup(th, tl); tracked {
			if mac, ok := c.NDPLinkLayerOption(n, header.NDPOptTargetLinkLayer); ok && !mac.IsMulticast() && !mac.IsZero() {
				learned = true
				w.learn(netip.AddrFrom16(target), mac, p.OutPort)
			}
		}
		if s.kernel && s.has6 {
			if h, l := split6(dst); h == s.own6h && l == s.own6l {
				return ToKernel
			}
		}
	}
	if learned {
		return NDPLearned
	}
	return DropNDPIgnored
}

func (w *Worker) learn(ip netip.Addr, mac header.MAC, port uint8) {
	if !w.Learn.Push(Learned{IP: ip, MAC: mac, Port: port}) {
		w.local.LearnOverflow++
	}
}

// advertise rewrites the solicitation in p into the Neighbor Advertisement
// for target (RFC 4861 section 7.2.4): solicited and override flags, our
// MAC as target link-layer address, unicast to the solicitor, or to all
// nodes when the solicitation came from the unspecified address (duplicate
// address detection: the VIP is in use here).
func (w *Worker) advertise(s *Snapshot, p *Packet, l3 int, target, solicitor [16]byte, solicitorMAC header.MAC, hasMAC, dad bool) Verdict {
	need := l3 + header.NDPLen
	if p.Off+need > len(p.Buf) {
		return DropNoHeadroom
	}
	f := p.Buf[p.Off : p.Off+need]
	eth := header.Ethernet(f)
	mine := s.portMACs[p.OutPort&(MaxPorts-1)]
	dst, flags := solicitor, uint8(header.NAFlagSolicited|header.NAFlagOverride)
	dstMAC := eth.Src()
	if hasMAC {
		dstMAC = solicitorMAC
	}
	if dad {
		dst, flags = header.AllNodes6, header.NAFlagOverride
		dstMAC = header.MulticastMAC6(dst)
	}
	eth.SetDst(dstMAC)
	eth.SetSrc(mine)
	header.PutNDP(f[l3:], header.ICMPv6NeighborAdvert, mine, target, dst, target, flags)
	p.Len = need
	return NDPReply
}
