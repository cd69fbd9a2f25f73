package encap

import "dsrlb/pipeline/header"

// MaxDSCPCode is the largest DSCP code of the dscp method; codes are
// 1..MaxDSCPCode (0 is the DSCP of ordinary traffic, which the real server
// must not take for a VIP).
const MaxDSCPCode = 63

// Offsets of the checksum fields in the TCP and UDP headers.
const (
	tcpCsum = header.TCPChecksumOffset
	udpCsum = header.UDPChecksumOffset
)

// DSCP rewrites, in place, the IPv4 packet at frame[l3:] for the dscp
// method: the destination address becomes dst and the DSCP becomes code
// (1..63), keeping the ECN bits. The IPv4 header checksum and the TCP or UDP
// checksum (whose pseudo header covers the destination) are updated
// incrementally (RFC 1624); a UDP checksum of 0 ("none") stays 0 and a
// computed 0 is sent as 0xFFFF. Other protocols only have their IP header
// changed. IPv4 options are kept. The TTL is not decremented.
//
// Fragments are handled although the data plane does not send them: a
// first fragment (offset 0, MF set) has its L4 checksum, which covers the
// reassembled datagram, updated like an unfragmented packet's; later
// fragments carry no L4 header and only have their IP header changed.
//
// It returns false, changing nothing, when code is out of range, l3 is out
// of the frame, the IPv4 header is invalid (header.IPv4.IsValid with the
// frame's remaining length), or a TCP or UDP packet is too short for its
// header. frame is the Ethernet frame (b[off:off+n]); the link layer is
// not looked at.
func DSCP(frame []byte, l3 int, dst [4]byte, code uint8) bool {
	if code == 0 || code > MaxDSCPCode || l3 < 0 || l3 > len(frame) {
		return false
	}
	ip := header.IPv4(frame[l3:])
	if !ip.IsValid(len(ip)) {
		return false
	}
	csum := -1 // offset of the L4 checksum in ip, -1: none to update
	udp := false
	if ip.FragmentOffset() == 0 {
		hl, tl := ip.HeaderLen(), int(ip.TotalLen())
		switch ip.Protocol() {
		case header.IPProtoTCP:
			if tl-hl < header.TCPMinLen {
				return false
			}
			csum = hl + tcpCsum
		case header.IPProtoUDP:
			if tl-hl < header.UDPLen {
				return false
			}
			csum, udp = hl+udpCsum, true
		}
	}
	old := ip.Dst()
	ip.SetDstWithChecksumUpdate(dst)
	ip.SetDSCPWithChecksumUpdate(code)
	if csum >= 0 {
		ck := uint16(ip[csum])<<8 | uint16(ip[csum+1])
		if udp {
			ck = header.UDPChecksumUpdateAddr4(ck, old, dst)
		} else {
			ck = header.UpdateChecksumAddr4(ck, old, dst)
		}
		ip[csum], ip[csum+1] = byte(ck>>8), byte(ck)
	}
	return true
}
