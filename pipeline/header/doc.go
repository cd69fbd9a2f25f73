// Package header provides zero-allocation accessors for the packet headers
// that dsrlb's per-packet path reads and rewrites: Ethernet (with at most one
// 802.1Q tag), ARP, IPv4, IPv6 (with extension-header walking), TCP, UDP,
// ICMPv4 and ICMPv6/NDP, plus the Internet checksum (RFC 1071) and its
// incremental update (RFC 1624).
//
// Each header is a named byte slice (type IPv4 []byte, ...) that aliases the
// packet buffer, typically memory in a DPDK mbuf. Nothing is copied or
// decoded up front: an accessor reads the bytes it needs when it is called,
// and a setter writes them in place.
//
// # Validity contract
//
// Every header type has a validity check (IsValid, or ParseL2 for Ethernet).
// Callers run it once per packet before using any other method. Accessors and
// setters then index the slice directly with no further checks, so calling
// them on a header that failed its check (or was never checked) may panic
// with an index out of range. This keeps the per-field cost at a load and a
// byte swap.
//
// The IsValid methods take n, the number of bytes that belong to the packet
// from the start of the header on (usually len of the slice). If n exceeds
// the slice length the slice length is used instead, so that a true result
// always means every accessor, including the ones returning payload
// sub-slices, is in bounds.
//
// # Performance rules
//
// No accessor, setter, parser or checksum function here allocates, makes
// interface calls, or returns net or netip types. Addresses are returned as
// value arrays ([4]byte, [16]byte, MAC) so the result never aliases the
// packet buffer and never escapes to the heap. MAC.String, for logs and
// tests off the per-packet path, allocates its result.
package header
