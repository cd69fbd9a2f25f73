// Package encap holds the in-place packet transformations of dsrlb's L3
// Direct Server Return methods, and the ICMP errors the balancer sends back
// to a client whose packet would not fit the path to the real server.
//
// Every function works on a packet buffer as the pipeline sees it: b is the
// whole buffer, b[off:off+n] the Ethernet frame and the bytes before off the
// headroom (normally 128 bytes) into which headers are prepended. The
// functions allocate nothing, make no interface calls and take no locks;
// they validate what they read, and on failure (ok false) leave the buffer
// exactly as it was. They never write outside b, but they do write into the
// headroom before off and, for the ICMP builders when the headroom is too
// short, into b past off+n.
//
// # Wire formats
//
// They are the ones the real-server side (dsrlb/ctrl/realserver, its eBPF
// decapsulation and the kernel's fallback tunnels) accepts.
//
// dscp (IPv4 only, DSCP): the destination address becomes the real
// server's, the DSCP becomes a code 1..63 that names the VIP on that server
// (ECN bits kept), the IPv4 header checksum and the TCP or UDP checksum are
// updated incrementally (RFC 1624); nothing else changes: no TTL decrement,
// IPv4 options kept.
//
// ipip, gre and gue (Encap) put outer headers between the Ethernet header
// (and its 802.1Q tag, if any) and the inner IP packet, which is carried
// byte for byte: its TTL or hop limit is not decremented (the balancer acts
// as the tunnel ingress of the client's packet, not as a router on its path).
//
//	ipip  outer IPv4, protocol 4, + inner IPv4                  20 bytes
//	      outer IPv6, next header 4 or 41, + inner IPv4 or IPv6   40 bytes
//	      (IPv6 in IPv4 is not one of the formats: refused)
//	gre   outer IPv4 / IPv6 (47) + GRE + inner IPv4 or IPv6      24 / 44 bytes
//	gue   outer IPv4 / IPv6 (17) + UDP + inner IPv4 or IPv6      28 / 48 bytes
//
// The outer IPv4 header (RFC 2003, RFC 791) has no options: source the
// balancer, destination the real server, TTL 64, TOS copied from the inner
// IPv4 TOS or IPv6 traffic class (DSCP and ECN: the ECN field is copied as
// in the normal mode of RFC 6040, so a CE mark set downstream reaches the
// inner header on decapsulation), DF copied from the inner IPv4 header and
// set for an inner IPv6 packet (which routers never fragment), ID copied
// from the inner IPv4 header (0 for an inner IPv6 packet: with DF set it is
// an atomic datagram, RFC 6864), checksum computed.
//
// The outer IPv6 header (RFC 2473) has no extension headers (no tunnel
// encapsulation limit option): hop limit 64, traffic class copied from the
// inner header as above, flow label derived from the flow hash (FlowLabel:
// the three 20-bit slices of the hash XORed together, 0 replaced by 1, so
// one flow keeps one label and ECMP on the label spreads flows, RFC 6438),
// payload length set.
//
// The GRE header (RFC 2784) is 4 bytes: no checksum, key or sequence
// number, version 0, protocol type 0x0800 or 0x86DD.
//
// The GUE header (draft-ietf-intarea-gue, variant 1) is absent: the UDP
// payload is the inner IP packet, whose first nibble tells its version. The
// UDP destination port is configured (6080 on the real servers by default),
// the source port is GUESourcePort(flowHash) = 49152 + flowHash%16384, so
// that ECMP and receive-side scaling spread the flows, the length is set;
// the checksum is 0 over IPv4 (RFC 768) and computed over IPv6 (RFC 8200
// section 8.1; this sums the whole packet, see BenchmarkEncap).
//
// The Ethernet header moves back by the outer header size and its (inner-
// most) EtherType becomes that of the outer IP version. The MAC addresses
// are left for the caller to rewrite. Link-layer padding after the inner IP
// packet is dropped: the returned length ends with the inner packet.
//
// # ICMP errors
//
// FragNeeded4 and PacketTooBig6 turn a packet that is too large for the
// path to the real server into the ICMP error that tells its sender to
// lower its path MTU (RFC 1191, RFC 8201), addressed back over the port it
// came from. They refuse to answer (ok false) where RFC 1122 section 3.2.2
// and RFC 4443 section 2.4 (e) forbid an error: an ICMP error message,
// a non-initial IPv4 fragment, a source that is not a unicast host
// address, and for IPv4 a destination or Ethernet destination that is
// broadcast or multicast.
package encap
