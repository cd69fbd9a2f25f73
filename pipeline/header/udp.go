package header

import "encoding/binary"

// UDP header (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|
//	|          data octets ...
//	+---------------- ...
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDPLen is the length of the UDP header.
const UDPLen = 8

// UDPChecksumOffset is the offset of the checksum field in a UDP header, for
// L4Checksum4 and L4Checksum6.
const UDPChecksumOffset = udpChecksum

// UDP is a UDP header followed by its payload. Call IsValid before any other
// method.
//
// A checksum of 0 means "not computed" for UDP over IPv4; see
// UDPChecksumUpdateAddr4 for updating it incrementally.
type UDP []byte

// IsValid reports whether u holds a UDP header whose Length field is
// consistent, given n bytes of datagram from the header start (n is capped
// at len(u)): n >= 8 and 8 <= Length <= n. The checksum is not verified.
func (u UDP) IsValid(n int) bool {
	n = min(n, len(u))
	if n < UDPLen {
		return false
	}
	l := int(binary.BigEndian.Uint16(u[udpLength:]))
	return l >= UDPLen && l <= n
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the Length field: header plus payload in bytes.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[udpLength:]) }

// Checksum returns the checksum field.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[udpChecksum:]) }

// Payload returns u[8:Length()].
func (u UDP) Payload() []byte { return u[UDPLen:u.Length()] }

// SetSrcPort sets the source port (checksum not updated).
func (u UDP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(u[udpSrcPort:], p) }

// SetDstPort sets the destination port (checksum not updated).
func (u UDP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(u[udpDstPort:], p) }

// SetLength sets the Length field (checksum not updated).
func (u UDP) SetLength(l uint16) { binary.BigEndian.PutUint16(u[udpLength:], l) }

// SetChecksum sets the checksum field.
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[udpChecksum:], c) }

// Encode writes the 8-byte header into u, which must be at least UDPLen
// long.
func (u UDP) Encode(src, dst uint16, length uint16, checksum uint16) {
	_ = u[UDPLen-1]
	u.SetSrcPort(src)
	u.SetDstPort(dst)
	u.SetLength(length)
	u.SetChecksum(checksum)
}
