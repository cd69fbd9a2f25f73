package header

import "encoding/binary"

// ARP packet for Ethernet hardware and IPv4 protocol addresses (RFC 826; the
// RFC lists the fields without a diagram, this is the layout they give for
// hlen 6 and plen 4):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Hardware type (1)         |   Protocol type (0x0800)      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   HLEN (6)    |   PLEN (4)    |          Operation            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Sender hardware address (SHA)                  |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |   Sender protocol address     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      (SPA, continued)         |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                Target hardware address (THA)                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Target protocol address (TPA)                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	arpHType = 0
	arpPType = 2
	arpHLen  = 4
	arpPLen  = 5
	arpOp    = 6
	arpSHA   = 8
	arpSPA   = 14
	arpTHA   = 18
	arpTPA   = 24
)

// ARP constants.
const (
	ARPLen = 28

	ARPRequest = 1
	ARPReply   = 2

	arpHTypeEthernet = 1
)

// ARP is an ARP packet (the Ethernet payload). Only Ethernet/IPv4 ARP is
// supported; check IsValid first.
type ARP []byte

// IsValid reports whether a is at least ARPLen bytes long and is
// Ethernet/IPv4 ARP: hardware type 1, protocol type 0x0800, hlen 6, plen 4.
// The operation is not checked.
func (a ARP) IsValid() bool {
	return len(a) >= ARPLen &&
		binary.BigEndian.Uint16(a[arpHType:]) == arpHTypeEthernet &&
		binary.BigEndian.Uint16(a[arpPType:]) == EtherTypeIPv4 &&
		a[arpHLen] == 6 && a[arpPLen] == 4
}

// Op returns the operation (ARPRequest or ARPReply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[arpOp:]) }

// SetOp sets the operation.
func (a ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(a[arpOp:], op) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[arpSHA : arpSHA+6]) }

// SetSenderMAC sets the sender hardware address.
func (a ARP) SetSenderMAC(m MAC) { copy(a[arpSHA:arpSHA+6], m[:]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() [4]byte { return [4]byte(a[arpSPA : arpSPA+4]) }

// SetSenderIP sets the sender protocol address.
func (a ARP) SetSenderIP(ip [4]byte) { copy(a[arpSPA:arpSPA+4], ip[:]) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[arpTHA : arpTHA+6]) }

// SetTargetMAC sets the target hardware address.
func (a ARP) SetTargetMAC(m MAC) { copy(a[arpTHA:arpTHA+6], m[:]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() [4]byte { return [4]byte(a[arpTPA : arpTPA+4]) }

// SetTargetIP sets the target protocol address.
func (a ARP) SetTargetIP(ip [4]byte) { copy(a[arpTPA:arpTPA+4], ip[:]) }

// ARPFrameLen is the length of an untagged Ethernet+ARP frame as written by
// BuildARP (before padding to the 60-byte Ethernet minimum, which the NIC
// or the caller adds).
const ARPFrameLen = EthernetLen + ARPLen

// BuildARP writes an untagged Ethernet frame carrying an Ethernet/IPv4 ARP
// packet into b and returns its length, ARPFrameLen (42). srcMAC and dstMAC
// go in the Ethernet header, the other addresses in the ARP packet. If b is
// shorter than 42 bytes nothing is written and 0 is returned.
func BuildARP(b []byte, op uint16, srcMAC, dstMAC MAC, senderMAC MAC, senderIP [4]byte, targetMAC MAC, targetIP [4]byte) int {
	if len(b) < ARPFrameLen {
		return 0
	}
	e := Ethernet(b)
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	e.SetType(EtherTypeARP)
	a := ARP(b[EthernetLen:ARPFrameLen])
	binary.BigEndian.PutUint16(a[arpHType:], arpHTypeEthernet)
	binary.BigEndian.PutUint16(a[arpPType:], EtherTypeIPv4)
	a[arpHLen] = 6
	a[arpPLen] = 4
	a.SetOp(op)
	a.SetSenderMAC(senderMAC)
	a.SetSenderIP(senderIP)
	a.SetTargetMAC(targetMAC)
	a.SetTargetIP(targetIP)
	return ARPFrameLen
}
