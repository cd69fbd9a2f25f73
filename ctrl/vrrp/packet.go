package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ProtoVRRP is VRRP's IP protocol number (IPv4 protocol, IPv6 next header).
const ProtoVRRP = 112

// protoAH is IPsec AH's protocol number: keepalived's "auth_type AH" puts
// an AH header between the IPv4 header and the VRRP message.
const protoAH = 51

const (
	headerLen = 8    // version/type .. checksum, both versions
	authLen   = 8    // version 2's authentication data
	mtu       = 1500 // the link MTU an advertisement must fit
	// MaxAddrs4 is the most IPv4 addresses one advertisement carries: the
	// one-byte count's limit (both versions fit 255 in 1500 bytes).
	MaxAddrs4 = 255
	// MaxAddrs6 is the most IPv6 addresses one advertisement carries: what
	// fits a 1500-byte IPv6 packet (40 + 8 + 16*90 = 1488 bytes).
	MaxAddrs6 = (mtu - 40 - headerLen) / 16
)

// ChecksumMode selects how a version 3 IPv4 advertisement's checksum is
// computed. Version 2 has one form (over the VRRP message only, RFC 3768
// section 5.3.8) and version 3 over IPv6 has one form (with the RFC 8200
// section 8.1 pseudo-header): the mode matters for version 3 over IPv4
// only, where the implementations disagree.
//
// RFC 5798 section 5.2.8 asked for "the entire VRRP message
// ... and a pseudo-header as defined in Section 8.1 of [RFC2460]" for both
// families; keepalived (by default, in every version), tcpdump and
// Wireshark read that as an IPv4 pseudo-header too, while Cisco and
// Juniper read it as IPv6-only. RFC 9568 section 5.2.8 (April 2024, which
// obsoletes RFC 5798) settled it the other way: "For the IPv4 address
// family, the checksum calculation only includes the VRRP message", the
// pseudo-header being for IPv6 only. So:
//   - ChecksumPseudo is RFC 5798 as keepalived reads it: what keepalived sends
//     unless configured otherwise, and all keepalived 2.2.7 (Debian 12) can
//     send;
//   - ChecksumMessageOnly is RFC 9568's IPv4 form (and Cisco's and Juniper's):
//     keepalived sends it with "v3_checksum_as_v2" (in a vrrp_instance, or
//     in global_defs as every instance's default; keepalived 2.2.8 and
//     later, absent from 2.2.7), which its manual says "should be set" "for
//     compliance with RFC9568". (With it, keepalived skips checking the
//     checksum of the version 3 IPv4 adverts it receives altogether.)
//
// keepalived's other checksum keyword, "old_unicast_checksum [never]"
// (2.2.7 has it when built with OLD_CHKSUM_COMPAT, as Debian's is), is a
// different thing: keepalived up to 1.3.6 put the multicast group
// 224.0.0.18 in the pseudo-header's destination even for unicast adverts;
// the keyword makes a unicast instance send that old form (and, unless
// "never", an instance switches to it by itself when it receives one). An
// advert in that form matches neither mode here (its IP destination is the
// unicast peer) and Parse rejects it with CauseChecksum.
type ChecksumMode int

const (
	// ChecksumPseudo: the pseudo-header form (source, destination, zero,
	// protocol 112, VRRP length), RFC 5798 as keepalived reads it.
	ChecksumPseudo ChecksumMode = iota
	// ChecksumMessageOnly: version 3 over IPv4 summed over the VRRP message
	// only, like version 2: RFC 9568 section 5.2.8, keepalived's
	// "v3_checksum_as_v2" (2.2.8 and later).
	ChecksumMessageOnly
)

func (m ChecksumMode) String() string {
	switch m {
	case ChecksumPseudo:
		return "pseudo_header"
	case ChecksumMessageOnly:
		return "message_only"
	}
	return fmt.Sprintf("ChecksumMode(%d)", int(m))
}

// ParseOptions are the receiver's choices Parse applies.
type ParseOptions struct {
	// AcceptMessageOnly accepts a version 3 IPv4 advertisement whose checksum
	// matches only without the pseudo-header (ChecksumMessageOnly). Without
	// it such an advertisement is CauseChecksum.
	AcceptMessageOnly bool
}

func errorf(c Cause, format string, args ...any) *Error {
	return &Error{Cause: c, Detail: fmt.Sprintf(format, args...)}
}

// addrLen is the length of one address of ip's family, or 0 for the zero
// Addr. An IPv4-mapped IPv6 address is IPv6: an IPv6 advert may carry one.
func addrLen(ip netip.Addr) int {
	switch {
	case !ip.IsValid():
		return 0
	case ip.Is4():
		return 4
	}
	return 16
}

// ipLen is addrLen for an IP packet's source or destination, where an
// IPv4-mapped address (from an AF_INET6 socket) stands for IPv4.
func ipLen(ip netip.Addr) int { return addrLen(ip.Unmap()) }

func maxAddrs(alen int) int {
	if alen == 4 {
		return MaxAddrs4
	}
	return MaxAddrs6
}

// msgLen is the length of a VRRP message of n addresses of alen bytes.
func msgLen(version, n, alen int) int {
	l := headerLen + n*alen
	if version == 2 {
		l += authLen
	}
	return l
}

// Append appends a's VRRP message (no IP header) to b. src and dst are the
// IP source and destination the message is sent with: version 3 needs them
// (of the family of a's addresses) for the pseudo-header; version 2 does
// not use them. mode matters for version 3 over IPv4 only (see
// ChecksumMode).
//
// An invalid advert is an *Error and b is returned unchanged: a version
// not 2 or 3 (CauseVersion); no addresses, an invalid or zoned address,
// mixed families (an IPv4-mapped address is IPv6 there), version 2 with
// IPv6, more addresses than the count byte holds or a 1500-byte packet
// fits (MaxAddrs4, MaxAddrs6), src or dst not of the addresses' family
// (CauseAddrFamily); an interval that is
// not whole seconds in 1..255 s for version 2 or a multiple of 10 ms in
// 10 ms..40.95 s for version 3 (CauseInterval); a password with version 3
// (CauseAuthType); a password longer than 8 bytes or with a NUL byte
// (CauseAuthPass); VRID 0 (CauseUnknownVRID); an unknown mode
// (CauseChecksum).
func (a *Advert) Append(b []byte, src, dst netip.Addr, mode ChecksumMode) ([]byte, error) {
	if err := a.check(src, dst, mode); err != nil {
		return b, err
	}
	alen := addrLen(a.Addrs[0])
	n := len(a.Addrs)
	start := len(b)
	b = append(b, byte(a.Version<<4|1), a.VRID, a.Priority, byte(n))
	if a.Version == 2 {
		auth := byte(0)
		if a.AuthPass != "" {
			auth = 1
		}
		b = append(b, auth, byte(a.Interval/time.Second), 0, 0)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(a.Interval/(10*time.Millisecond)))
		b = append(b, 0, 0)
	}
	for _, ip := range a.Addrs {
		if alen == 4 {
			v := ip.As4()
			b = append(b, v[:]...)
		} else {
			v := ip.As16()
			b = append(b, v[:]...)
		}
	}
	if a.Version == 2 {
		var pass [authLen]byte
		copy(pass[:], a.AuthPass)
		b = append(b, pass[:]...)
	}
	msg := b[start:]
	binary.BigEndian.PutUint16(msg[6:], ^fold(sum(a.Version, alen, mode, src, dst, msg)))
	return b, nil
}

// check is Append's validation; see Append for the causes.
func (a *Advert) check(src, dst netip.Addr, mode ChecksumMode) error {
	if a.Version != 2 && a.Version != 3 {
		return errorf(CauseVersion, "version %d, not 2 or 3", a.Version)
	}
	if a.VRID == 0 {
		return errorf(CauseUnknownVRID, "VRID 0")
	}
	n := len(a.Addrs)
	if n == 0 {
		return errorf(CauseAddrFamily, "no addresses")
	}
	alen := 0
	for _, ip := range a.Addrs {
		l := addrLen(ip)
		switch {
		case l == 0:
			return errorf(CauseAddrFamily, "invalid address")
		case ip.Zone() != "":
			return errorf(CauseAddrFamily, "zoned address %s", ip)
		case alen != 0 && l != alen:
			return errorf(CauseAddrFamily, "IPv4 and IPv6 addresses mixed")
		}
		alen = l
	}
	if a.Version == 2 && alen != 4 {
		return errorf(CauseAddrFamily, "version 2 with IPv6 addresses")
	}
	if n > maxAddrs(alen) {
		return errorf(CauseAddrFamily, "%d addresses, more than %d", n, maxAddrs(alen))
	}
	if a.Version == 3 && (ipLen(src) != alen || ipLen(dst) != alen) {
		return errorf(CauseAddrFamily, "source %v or destination %v not of the addresses' family", src, dst)
	}
	switch iv := a.Interval; a.Version {
	case 2:
		if iv%time.Second != 0 || iv < time.Second || iv > 255*time.Second {
			return errorf(CauseInterval, "version 2 interval %v, not whole seconds in 1s..255s", iv)
		}
		if len(a.AuthPass) > authLen {
			return errorf(CauseAuthPass, "password of %d bytes, more than %d", len(a.AuthPass), authLen)
		}
		if strings.IndexByte(a.AuthPass, 0) >= 0 {
			return errorf(CauseAuthPass, "password with a NUL byte")
		}
	case 3:
		if iv%(10*time.Millisecond) != 0 || iv < 10*time.Millisecond || iv > 4095*10*time.Millisecond {
			return errorf(CauseInterval, "version 3 interval %v, not a multiple of 10ms in 10ms..40.95s", iv)
		}
		if a.AuthPass != "" {
			return errorf(CauseAuthType, "authentication with version 3")
		}
	}
	if mode != ChecksumPseudo && mode != ChecksumMessageOnly {
		return errorf(CauseChecksum, "unknown checksum mode %d", int(mode))
	}
	return nil
}

// sum is the unfolded one's complement sum of msg and, where the version,
// family and mode call for it, the pseudo-header of src and dst.
func sum(version, alen int, mode ChecksumMode, src, dst netip.Addr, msg []byte) uint32 {
	s := sum16(msg, 0)
	if version == 2 || (alen == 4 && mode == ChecksumMessageOnly) {
		return s
	}
	// IPv4 (RFC 791: src, dst, zero, protocol, length) and IPv6 (RFC 8200
	// section 8.1: src, dst, 32-bit length, 24 zero bits, next header) sum
	// to the same words but for the addresses' length.
	if alen == 4 {
		s4, d4 := src.Unmap().As4(), dst.Unmap().As4()
		s = sum16(s4[:], s)
		s = sum16(d4[:], s)
	} else {
		s16, d16 := src.As16(), dst.As16()
		s = sum16(s16[:], s)
		s = sum16(d16[:], s)
	}
	return s + ProtoVRRP + uint32(len(msg))
}

// sum16 adds b's big-endian 16-bit words to s (an odd last byte padded
// with zero). s stays far from overflow for any VRRP message.
func sum16(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// Parse decodes a VRRP message (the IP payload, no IP header). src and dst
// are the IP packet's source and destination: version 3's pseudo-header
// sums them, and their family is the family of the advert's addresses
// (IPv4-mapped IPv6 addresses count as IPv4). It returns the advert and
// the checksum form that matched: ChecksumMessageOnly for a version 3 IPv4
// advert summed without the pseudo-header (accepted only with
// opts.AcceptMessageOnly), ChecksumPseudo otherwise (the only form of version 2
// and of IPv6).
//
// The error is always an *Error. src and dst not of one family is
// CauseAddrFamily; then the first defect found, in this order:
// CauseTruncated (shorter than the header, or than its address list and
// authentication data); CauseVersion (neither 2 nor 3, or version 2 over
// IPv6); CauseType (not 1, an advertisement); CauseAddrFamily (no
// addresses, more than MaxAddrs4 or MaxAddrs6, a length that is not that
// of its count of addresses of the packet's family); CauseChecksum;
// CauseUnknownVRID (VRID 0, which no instance has); CauseAuthType
// (version 2 type 2, IPsec AH, or an unknown type); CauseAuthPass (type 1
// with an empty password or a NUL byte inside it); CauseInterval (0). It
// never panics and does not keep b: the advert's addresses and password
// are copies.
//
// Version 3's reserved bits and version 2's authentication data with type
// 0 are ignored, as the RFCs ask.
func Parse(b []byte, src, dst netip.Addr, opts ParseOptions) (Advert, ChecksumMode, error) {
	alen := ipLen(src)
	if alen == 0 || ipLen(dst) != alen {
		return Advert{}, 0, errorf(CauseAddrFamily, "source %v and destination %v not of one family", src, dst)
	}
	if len(b) < headerLen {
		return Advert{}, 0, errorf(CauseTruncated, "%d bytes, shorter than the %d-byte header", len(b), headerLen)
	}
	version, typ := int(b[0]>>4), b[0]&0xf
	switch {
	case version != 2 && version != 3:
		return Advert{}, 0, errorf(CauseVersion, "version %d", version)
	case version == 2 && alen == 16:
		return Advert{}, 0, errorf(CauseVersion, "version 2 over IPv6")
	case typ != 1:
		return Advert{}, 0, errorf(CauseType, "type %d, not 1 (advertisement)", typ)
	}
	n := int(b[3])
	if n == 0 {
		return Advert{}, 0, errorf(CauseAddrFamily, "no addresses")
	}
	if n > maxAddrs(alen) {
		return Advert{}, 0, errorf(CauseAddrFamily, "%d addresses, more than %d", n, maxAddrs(alen))
	}
	want := msgLen(version, n, alen)
	if len(b) != want {
		other := 20 - alen // the other family's address length
		if len(b) < want && len(b) != msgLen(version, n, other) {
			return Advert{}, 0, errorf(CauseTruncated, "%d bytes, %d addresses need %d", len(b), n, want)
		}
		return Advert{}, 0, errorf(CauseAddrFamily, "%d bytes do not hold %d addresses of %d bytes", len(b), n, alen)
	}
	mode := ChecksumPseudo
	if fold(sum(version, alen, ChecksumPseudo, src, dst, b)) != 0xffff {
		if version != 3 || alen != 4 || fold(sum(version, alen, ChecksumMessageOnly, src, dst, b)) != 0xffff {
			return Advert{}, 0, errorf(CauseChecksum, "checksum %#04x does not match", binary.BigEndian.Uint16(b[6:]))
		}
		if !opts.AcceptMessageOnly {
			return Advert{}, 0, errorf(CauseChecksum, "checksum %#04x matches only without the pseudo-header, not accepted", binary.BigEndian.Uint16(b[6:]))
		}
		mode = ChecksumMessageOnly
	}
	a := Advert{Version: version, VRID: b[1], Priority: b[2]}
	if a.VRID == 0 {
		return Advert{}, 0, errorf(CauseUnknownVRID, "VRID 0")
	}
	if version == 2 {
		switch b[4] {
		case 0:
		case 1:
			pass := b[want-authLen:]
			for len(pass) > 0 && pass[len(pass)-1] == 0 {
				pass = pass[:len(pass)-1]
			}
			if len(pass) == 0 {
				return Advert{}, 0, errorf(CauseAuthPass, "type 1 with an empty password")
			}
			for _, c := range pass {
				if c == 0 {
					return Advert{}, 0, errorf(CauseAuthPass, "password with a NUL byte")
				}
			}
			a.AuthPass = string(pass)
		case 2:
			return Advert{}, 0, errorf(CauseAuthType, "type 2, IP authentication header, not supported")
		default:
			return Advert{}, 0, errorf(CauseAuthType, "unknown authentication type %d", b[4])
		}
		if b[5] == 0 {
			return Advert{}, 0, errorf(CauseInterval, "interval 0")
		}
		a.Interval = time.Duration(b[5]) * time.Second
	} else {
		cs := binary.BigEndian.Uint16(b[4:]) & 0xfff
		if cs == 0 {
			return Advert{}, 0, errorf(CauseInterval, "interval 0")
		}
		a.Interval = time.Duration(cs) * 10 * time.Millisecond
	}
	a.Addrs = make([]netip.Addr, n)
	for i := range a.Addrs {
		p := b[headerLen+i*alen:]
		if alen == 4 {
			a.Addrs[i] = netip.AddrFrom4([4]byte(p[:4]))
		} else {
			a.Addrs[i] = netip.AddrFrom16([16]byte(p[:16]))
		}
	}
	return a, mode, nil
}

// ParseIPv4 splits a raw IPv4 packet, as an AF_INET SOCK_RAW socket
// delivers it (header included, total length and offsets in network
// order, as Linux does), into its source, destination, TTL and payload (a
// subslice of pkt, trimmed to the total length). Errors are *Error:
// CauseTruncated for a packet shorter than its header or its total length,
// a header that is not IPv4 or has a bad length, or a fragment;
// CauseChecksum for a bad header checksum; CauseAuthType for protocol 51
// (IPsec AH, keepalived's "auth_type AH", not supported); CauseType for
// any other protocol but 112.
func ParseIPv4(pkt []byte) (src, dst netip.Addr, ttl uint8, payload []byte, err error) {
	if len(pkt) < 20 {
		return src, dst, 0, nil, errorf(CauseTruncated, "%d bytes, shorter than an IPv4 header", len(pkt))
	}
	if pkt[0]>>4 != 4 {
		return src, dst, 0, nil, errorf(CauseTruncated, "IP version %d, not 4", pkt[0]>>4)
	}
	hl := int(pkt[0]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(pkt[2:]))
	switch {
	case hl < 20:
		return src, dst, 0, nil, errorf(CauseTruncated, "header length %d", hl)
	case tl < hl || tl > len(pkt):
		return src, dst, 0, nil, errorf(CauseTruncated, "total length %d, header %d, %d bytes received", tl, hl, len(pkt))
	case binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0:
		return src, dst, 0, nil, errorf(CauseTruncated, "a fragment")
	case fold(sum16(pkt[:hl], 0)) != 0xffff:
		return src, dst, 0, nil, errorf(CauseChecksum, "IPv4 header checksum %#04x does not match", binary.BigEndian.Uint16(pkt[10:]))
	}
	src = netip.AddrFrom4([4]byte(pkt[12:16]))
	dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	switch pkt[9] {
	case ProtoVRRP:
	case protoAH:
		return src, dst, pkt[8], nil, errorf(CauseAuthType, "protocol 51, IP authentication header, not supported")
	default:
		return src, dst, pkt[8], nil, errorf(CauseType, "protocol %d, not 112", pkt[9])
	}
	return src, dst, pkt[8], pkt[hl:tl], nil
}
