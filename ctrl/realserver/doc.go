// Package realserver produces what a Linux real server needs to receive
// dsrlb's traffic for each forwarding method and answer the client
// directly with the VIP as source: Plan turns a Spec and the facts of the
// host (HostInfo) into Steps, each a comment and an argv (ip, sysctl, nft,
// tc, bpftool, modprobe); Format prints them as copy-pasteable shell lines;
// Apply runs them and stops at the first failure; Teardown undoes them.
// `dsrlbctl realserver` is the command-line face of this package.
//
// # Wire formats
//
// What the data plane sends, and the only encapsulations the eBPF decap
// program (bpf/decap.c) accepts; everything else passes it untouched.
//
//   - l2dsr: the client's IP packet unchanged, destination MAC rewritten to
//     the real server's. IPv4 and IPv6.
//   - dscp: IPv4 only. The destination address is rewritten to the real
//     server's own address and the DSCP field to a code 1..63 that maps 1:1
//     to the VIP (at most 63 VIPs per real server); checksums are fixed.
//   - ipip: an outer IPv4 header (protocol 4, RFC 2003, no options) from
//     the balancer to the real server, DF copied from the inner header, TTL
//     64, then the inner IPv4 packet untouched. Over IPv6 (RFC 2473): an
//     outer IPv6 header, no extension headers, hop limit 64, next header 41
//     for an inner IPv6 packet or 4 for an inner IPv4 packet. IPv6 in IPv4
//     is not used.
//   - gre: an outer IPv4 (protocol 47) or IPv6 (next header 47) header,
//     then a 4-byte GRE header (RFC 2784: no checksum, key or sequence
//     number, version 0) with protocol type 0x0800 or 0x86DD, then the
//     inner packet. Any combination of outer and inner version.
//   - gue: an outer IPv4 or IPv6 header, then UDP to a configurable port
//     (default 6080) from a source port that varies per flow (for ECMP and
//     RSS), checksum 0 over IPv4 and computed over IPv6, then GUE variant 1
//     (draft-ietf-intarea-gue section 4): no GUE header, the payload's
//     first nibble is the inner IP version, 4 or 6. Any combination of
//     outer and inner version.
//
// The outer headers cost 20 (ipip), 24 (gre) and 28 (gue) bytes over IPv4,
// 40, 44 and 48 over IPv6.
//
// # What every method needs on the real server
//
// Every VIP is a local address on lo (/32, or /128 with nodad), so the
// stack accepts packets for it and answers from it, while no interface
// announces it. IPv4 VIPs also get arp_ignore=1 and arp_announce=2 (all and
// the interface): the server answers ARP only for addresses on the asking
// interface and never uses the VIP as the source of its own ARP requests,
// or a router on a shared segment could send clients straight to it.
// Linux answers a neighbour solicitation only for addresses on the
// interface it arrived on, so an IPv6 VIP on lo needs nothing more.
//
// dscp adds a stateless nftables rule per VIP in a prerouting chain at
// priority -300 (before conntrack): `ip dscp N ip daddr set VIP ip dscp set
// 0 notrack`. The packet then looks as if it had been sent to the VIP.
// Not a DNAT: conntrack would rewrite the reply's source back to the real
// server's own address and the client, which sent to the VIP, would drop
// it. The replies from the VIP are not tracked either (an output chain at
// -300), so DSR costs no conntrack entries; a host firewall must accept
// `ct state untracked`.
//
// Tunnels need decapsulation and relaxed reverse-path filtering (the
// inner source is the client, which the route back does not reach through
// the decapsulating device): rp_filter=2 on that device. Decapsulation is
// either the kernel's (Decap "kernel": tunl0 / ip6tnl0 for ipip, gre0 /
// ip6gre0 for gre, `ip fou add port P gue` plus tunl0, sit0 or ip6tnl0
// for gue, all fallback devices that take any remote) or the tc eBPF
// program (Decap "ebpf") for hosts without those modules. "auto" picks
// the kernel when every module it needs is loaded, built in or loadable.
//
// # The eBPF decapsulation
//
// bpf/decap.c, built into dsrlb-decap.o (make bpf), is attached by tc to
// the interface facing the balancer: a clsact qdisc and `tc filter replace
// dev IF ingress pref 1000 handle 1 bpf direct-action obj dsrlb-decap.o sec
// tc`. It decapsulates only packets whose outer destination and method
// are in the hash map dsrlb_rs_self, which tc pins by name at
// /sys/fs/bpf/tc/globals/dsrlb_rs_self (shared by every interface running
// the program). Apply fills it with bpftool; Teardown removes this spec's
// entries. Key (20 bytes): the outer destination as 16 bytes (IPv4 as
// ::ffff:a.b.c.d), the method (1 ipip, 2 gre, 3 gue) and 3 zero bytes.
// Value (4 bytes): the GUE port in network byte order (0 for ipip and
// gre) and 2 zero bytes. The per-CPU array dsrlb_rs_stats counts
// decapsulated packets, ECN drops and failures (indexes 0, 1, 2).
//
// The program strips the outer headers with bpf_skb_adjust_room(skb,
// -len, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO), and when the inner
// version differs from the outer one it also sets skb->protocol and the
// EtherType (BPF_F_ADJ_ROOM_DECAP_L3_IPV4/6 on Linux 6.3 and newer,
// bpf_skb_change_proto before). The inner packet then reaches the stack
// as if it had arrived plainly on the interface. It does not check the
// outer source (neither do the kernel's fallback tunnels): filter the
// tunnel protocols to the balancers' addresses where that matters.
//
// Limits: outer IPv4 fragments, outer IPv4 options and outer IPv6
// extension headers are not decapsulated (the balancer sends none of
// them); the UDP checksum of GUE over IPv6 is not verified (the inner
// packet's own checksums still are). Under `ip netns exec` the bpf file
// system is private to the command, so the pin disappears when it exits;
// the filter keeps its map, and Teardown's removal of the filter frees it.
//
// # MTU
//
// The balancer encapsulates only the request direction. A client sends
// segments as large as the MSS the real server advertises in its SYN-ACK
// (1460 on a 1500-byte path), so a full-size request plus the outer
// headers no longer fits a 1500-byte path from the balancer to the real
// server. The remedies: a larger MTU on that path (by at least the
// overhead); or a smaller advertised MSS on the real server (Spec.ClampMSS,
// an nft rule on the SYN-ACKs from the VIPs, or `ip route ... advmss`);
// for UDP only the larger MTU or ICMP "fragmentation needed"/"packet too
// big" from the balancer (path MTU discovery) help. The client's own SYN
// MSS limits only the replies, which DSR sends unencapsulated.
package realserver
