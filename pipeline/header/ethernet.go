package header

import (
	"encoding/binary"
	"errors"
)

// MAC is a 48-bit IEEE 802 MAC address, stored by value.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

const hexDigits = "0123456789abcdef"

// String returns the address as six lower-case hex pairs separated by
// colons, e.g. "02:00:00:00:00:01".
func (m MAC) String() string {
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = hexDigits[v>>4]
		b[3*i+1] = hexDigits[v&0xf]
	}
	return string(b[:])
}

// IsMulticast reports whether the group bit (least significant bit of the
// first octet) is set. The broadcast address is a multicast address.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

var errBadMAC = errors.New("header: invalid MAC address, want xx:xx:xx:xx:xx:xx")

// ParseMAC parses six hex pairs separated by ':' or '-' (one separator used
// throughout), in either case, e.g. "02:00:00:00:00:01" or "02-00-00-00-00-01".
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, errBadMAC
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return m, errBadMAC
	}
	for i := range m {
		if i > 0 && s[3*i-1] != sep {
			return m, errBadMAC
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return m, errBadMAC
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Ethernet II header (IEEE 802.3 clause 3.1.1, DIX framing; preamble and FCS
// are not part of the frame as seen by the driver):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination MAC address                    |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                      Source MAC address                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   EtherType (or TPID 0x8100)  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// With an IEEE 802.1Q tag the TPID sits where the EtherType was and is
// followed by the TCI and the real EtherType:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         TPID (0x8100)         | PCP |D|        VLAN ID        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12

	vlanTCI  = 14 // from the frame start
	vlanType = 16
)

// EtherType values and Ethernet lengths.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86DD
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q customer tag (C-tag)
	EtherTypeQinQ = 0x88A8 // IEEE 802.1ad service tag (S-tag)

	// etherTypeQinQOld is the pre-standard S-tag TPID still sent by some
	// switches; ParseL2 refuses it like 0x88A8.
	etherTypeQinQOld = 0x9100

	EthernetLen = 14
	VLANTagLen  = 4
)

// Ethernet is an Ethernet II header at the start of a frame. Its accessors
// need len >= EthernetLen; ParseL2 is the validity check.
type Ethernet []byte

// Dst returns the destination MAC address.
func (e Ethernet) Dst() MAC { return MAC(e[ethDst : ethDst+6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() MAC { return MAC(e[ethSrc : ethSrc+6]) }

// SetDst sets the destination MAC address.
func (e Ethernet) SetDst(m MAC) { copy(e[ethDst:ethDst+6], m[:]) }

// SetSrc sets the source MAC address.
func (e Ethernet) SetSrc(m MAC) { copy(e[ethSrc:ethSrc+6], m[:]) }

// Type returns the raw EtherType field at offset 12, which is the TPID
// (EtherTypeVLAN) for a tagged frame. Use ParseL2 to get the L3 type.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[ethType:]) }

// SetType sets the raw EtherType field at offset 12.
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[ethType:], t) }

// isTPID reports whether t announces a VLAN tag rather than an L3 protocol.
func isTPID(t uint16) bool {
	return t == EtherTypeVLAN || t == EtherTypeQinQ || t == etherTypeQinQOld
}

// ParseL2 finds the L3 header of an Ethernet frame. It handles an untagged
// frame and a frame with exactly one 802.1Q tag (TPID 0x8100), returning the
// EtherType of the L3 header and its offset in frame (14 or 18).
//
// ok is false when the frame is too short for its Ethernet header (and tag),
// when it carries an S-tag (0x88A8, or the legacy 0x9100) as either tag, or
// when a 0x8100 tag is followed by another tag (stacked VLANs / QinQ). Frames
// whose EtherType is below 0x0600 (802.3 length field, LLC) are returned with
// ok true and that value; they match no EtherType constant.
func ParseL2(frame []byte) (etherType uint16, l3Offset int, ok bool) {
	if len(frame) < EthernetLen {
		return 0, 0, false
	}
	t, off := binary.BigEndian.Uint16(frame[ethType:]), EthernetLen
	if t == EtherTypeVLAN && len(frame) >= EthernetLen+VLANTagLen {
		t, off = binary.BigEndian.Uint16(frame[vlanType:]), EthernetLen+VLANTagLen
	}
	// Whatever is left pointing at a tag is refused: an S-tag outside, a
	// second tag inside, or a 0x8100 tag cut short.
	if isTPID(t) {
		return 0, 0, false
	}
	return t, off, true
}

// ParseL2VLAN is ParseL2 that also returns the 802.1Q tag: tagged is true
// when the frame had one, and tci is its Tag Control Information (PCP, DEI
// and VLAN ID; see VLANID). tci is 0 for untagged frames; note a
// priority-tagged frame has tagged true and VLAN ID 0.
func ParseL2VLAN(frame []byte) (etherType uint16, tci uint16, tagged bool, l3Offset int, ok bool) {
	etherType, l3Offset, ok = ParseL2(frame)
	if ok && l3Offset == EthernetLen+VLANTagLen {
		return etherType, binary.BigEndian.Uint16(frame[vlanTCI:]), true, l3Offset, true
	}
	return etherType, 0, false, l3Offset, ok
}

// VLANID returns the 12-bit VLAN identifier of a tag control information
// value.
func VLANID(tci uint16) uint16 { return tci & 0x0fff }
