// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dsrlb-decap: tc ingress (clsact, direct-action) decapsulation of dsrlb's
 * ipip, gre and gue packets on real servers whose kernel has no ipip, gre,
 * ip6_tunnel, sit or fou support. The wire formats are documented in
 * ctrl/realserver/doc.go; this program accepts exactly those and returns
 * TC_ACT_OK without touching anything else:
 *
 *   ipip  outer IPv4 (protocol 4) + inner IPv4;
 *         outer IPv6 (next header 41) + inner IPv6, or (4) + inner IPv4
 *   gre   outer IPv4/IPv6 (47) + GRE (RFC 2784: no C/K/S, version 0)
 *         with protocol 0x0800 or 0x86DD + the inner packet
 *   gue   outer IPv4/IPv6 (17) + UDP to the configured port + the inner
 *         IPv4 or IPv6 packet (GUE variant 1: no GUE header)
 *
 * A packet is decapsulated only when the pair (outer destination, method)
 * is in the pinned map dsrlb_rs_self, which `dsrlbctl realserver -apply`
 * fills with bpftool. The outer IPv4 header must have no options, a good
 * checksum and must not be a fragment; the outer IPv6 header must be
 * followed directly by the tunnel header (no extension headers). Anything
 * else goes to the stack as it came.
 *
 * Decapsulation removes the outer headers right after the Ethernet header
 * with bpf_skb_adjust_room(BPF_ADJ_ROOM_MAC) (BPF_ADJ_ROOM_NET would keep
 * the outer network header and remove the inner one's first bytes),
 * keeping gso_size (it counts inner payload bytes). When the inner IP
 * version differs from the outer one, skb->protocol and the Ethernet type
 * are changed too: with BPF_F_ADJ_ROOM_DECAP_L3_IPV4/6 (Linux 6.3 and
 * newer), or, when the kernel refuses those flags, with
 * bpf_skb_change_proto first (builds with -DDSRLB_NO_DECAP_L3_FLAGS take
 * that path always, so the tests can prove it).
 *
 * ECN follows RFC 6040: a CE mark on the outer header is copied into an
 * ECN-capable inner header; a CE-marked outer header around a not-ECT
 * inner packet is dropped.
 *
 * Build: clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu \
 *            -c decap.c -o dsrlb-decap.o
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Kept equal to the Go constants in ctrl/realserver (a unit test reads
 * these lines). */
#define DSRLB_METHOD_IPIP 1
#define DSRLB_METHOD_GRE 2
#define DSRLB_METHOD_GUE 3
#define DSRLB_MAP_SELF_ENTRIES 1024
#define DSRLB_STAT_DECAP 0
#define DSRLB_STAT_ECN_DROP 1
#define DSRLB_STAT_FAIL 2
#define DSRLB_STAT_COUNT 3

/* Flags of Linux 6.3; older uapi headers (Debian 12's) lack them. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

#define EINVAL 22

#define GRE_HLEN 4
/* RFC 2784: C (bit 0) and reserved bits 1-5 must be 0 (else RFC 1701
 * fields follow), version (bits 13-15) must be 0; bits 6-12 are ignored. */
#define GRE_FLAGS_MUST_BE_ZERO 0xFC07

#define ECN_MASK 3
#define ECN_NOT_ECT 0
#define ECN_CE 3

/* Key of dsrlb_rs_self: the outer destination (IPv4 as ::ffff:a.b.c.d)
 * and the method. 20 bytes, no implicit padding. */
struct self_key {
	__u8 addr[16];
	__u8 method;
	__u8 pad[3];
};

/* Value: the GUE UDP port in network byte order (0 for ipip and gre). */
struct self_val {
	__be16 gue_port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DSRLB_MAP_SELF_ENTRIES);
	__type(key, struct self_key);
	__type(value, struct self_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dsrlb_rs_self SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DSRLB_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dsrlb_rs_stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&dsrlb_rs_stats, &stat);

	if (v)
		*v += 1;
}

/* ipv4_header_ok: no options, not a fragment, checksum right. */
static __always_inline int ipv4_header_ok(struct iphdr *ip)
{
	__s64 sum;

	if (ip->version != 4 || ip->ihl != 5)
		return 0;
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset */
		return 0;
	sum = bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0);
	if (sum < 0)
		return 0;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* strip removes len bytes after the Ethernet header and makes the packet
 * the inner one, of EtherType inner_proto (network order). */
static __always_inline int strip(struct __sk_buff *skb, __u32 len,
				 __be16 inner_proto, int cross_family)
{
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO;
	long rc = -EINVAL;

	if (!cross_family)
		return bpf_skb_adjust_room(skb, -(__s32)len, BPF_ADJ_ROOM_MAC,
					   flags);
#ifndef DSRLB_NO_DECAP_L3_FLAGS
	rc = bpf_skb_adjust_room(skb, -(__s32)len, BPF_ADJ_ROOM_MAC,
				 flags | (inner_proto == bpf_htons(ETH_P_IP) ?
					  BPF_F_ADJ_ROOM_DECAP_L3_IPV4 :
					  BPF_F_ADJ_ROOM_DECAP_L3_IPV6));
#endif
	if (rc == -EINVAL) {
		/* Kernels before 6.3: change_proto turns the outer header
		 * into one of the inner family (removing 20 bytes from an
		 * IPv6 one or adding 20 to an IPv4 one) and sets
		 * skb->protocol; then the rest goes. */
		rc = bpf_skb_change_proto(skb, inner_proto, 0);
		if (rc)
			return rc;
		if (inner_proto == bpf_htons(ETH_P_IP))
			len -= sizeof(struct ipv6hdr) - sizeof(struct iphdr);
		else
			len += sizeof(struct ipv6hdr) - sizeof(struct iphdr);
		rc = bpf_skb_adjust_room(skb, -(__s32)len, BPF_ADJ_ROOM_MAC,
					 flags);
	}
	if (rc)
		return rc;
	/* The Ethernet type follows skb->protocol, for whatever looks at the
	 * frame after us. */
	return bpf_skb_store_bytes(skb, __builtin_offsetof(struct ethhdr, h_proto),
				   &inner_proto, sizeof(inner_proto), 0);
}

/* mark_ce sets CE on the inner header, which now starts after the
 * Ethernet header. */
static __always_inline int mark_ce(struct __sk_buff *skb, int inner_v4)
{
	__u8 b[2];
	__u16 old_word, new_word;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, b, sizeof(b)))
		return -1;
	__builtin_memcpy(&old_word, b, sizeof(old_word));
	if (inner_v4)
		b[1] |= ECN_CE; /* TOS byte: ECN is its low two bits */
	else
		b[1] |= ECN_CE << 4; /* traffic class straddles bytes 0-1 */
	__builtin_memcpy(&new_word, b, sizeof(new_word));
	if (!inner_v4)
		/* No header checksum: keep a CHECKSUM_COMPLETE sum right. */
		return bpf_skb_store_bytes(skb, ETH_HLEN + 1, &b[1], 1,
					   BPF_F_RECOMPUTE_CSUM);
	/* The header checksum absorbs the change, so the sum over the
	 * packet (CHECKSUM_COMPLETE) stays as it is. */
	if (bpf_l3_csum_replace(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, check),
				old_word, new_word, sizeof(new_word)))
		return -1;
	return bpf_skb_store_bytes(skb, ETH_HLEN + 1, &b[1], 1, 0);
}

SEC("tc")
int dsrlb_decap(struct __sk_buff *skb)
{
	struct self_key key = {};
	struct self_val *val;
	__u32 off = ETH_HLEN; /* start of the tunnel header */
	__u8 proto, outer_ecn, inner_ecn, b[2];
	int outer_v4, inner_v4;
	__be16 inner_proto;
	struct udphdr udp;
	__be16 gre[2];

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return TC_ACT_OK;
		if (!ipv4_header_ok(&ip))
			return TC_ACT_OK;
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &ip.daddr, 4);
		proto = ip.protocol;
		outer_ecn = ip.tos & ECN_MASK;
		outer_v4 = 1;
		off += sizeof(ip);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
			return TC_ACT_OK;
		if (ip6.version != 6)
			return TC_ACT_OK;
		__builtin_memcpy(key.addr, &ip6.daddr, 16);
		proto = ip6.nexthdr;
		outer_ecn = (ip6.flow_lbl[0] >> 4) & ECN_MASK;
		outer_v4 = 0;
		off += sizeof(ip6);
	} else {
		return TC_ACT_OK;
	}

	switch (proto) {
	case IPPROTO_IPIP:
		key.method = DSRLB_METHOD_IPIP;
		inner_proto = bpf_htons(ETH_P_IP);
		break;
	case IPPROTO_IPV6:
		if (outer_v4) /* IPv6 in IPv4 is not one of dsrlb's formats */
			return TC_ACT_OK;
		key.method = DSRLB_METHOD_IPIP;
		inner_proto = bpf_htons(ETH_P_IPV6);
		break;
	case IPPROTO_GRE:
		if (bpf_skb_load_bytes(skb, off, gre, sizeof(gre)))
			return TC_ACT_OK;
		if (gre[0] & bpf_htons(GRE_FLAGS_MUST_BE_ZERO))
			return TC_ACT_OK;
		if (gre[1] != bpf_htons(ETH_P_IP) &&
		    gre[1] != bpf_htons(ETH_P_IPV6))
			return TC_ACT_OK;
		key.method = DSRLB_METHOD_GRE;
		inner_proto = gre[1];
		off += GRE_HLEN;
		break;
	case IPPROTO_UDP:
		if (bpf_skb_load_bytes(skb, off, &udp, sizeof(udp)))
			return TC_ACT_OK;
		key.method = DSRLB_METHOD_GUE;
		inner_proto = 0; /* from the first nibble, below */
		off += sizeof(udp);
		break;
	default:
		return TC_ACT_OK;
	}

	val = bpf_map_lookup_elem(&dsrlb_rs_self, &key);
	if (!val)
		return TC_ACT_OK;
	if (key.method == DSRLB_METHOD_GUE && udp.dest != val->gue_port)
		return TC_ACT_OK;

	/* The inner header must be of the version the outer ones announce
	 * (for GUE variant 1 the version nibble is the announcement). */
	if (bpf_skb_load_bytes(skb, off, b, sizeof(b)))
		return TC_ACT_OK;
	switch (b[0] >> 4) {
	case 4:
		if (inner_proto == bpf_htons(ETH_P_IPV6))
			return TC_ACT_OK;
		inner_proto = bpf_htons(ETH_P_IP);
		inner_v4 = 1;
		inner_ecn = b[1] & ECN_MASK;
		break;
	case 6:
		if (inner_proto == bpf_htons(ETH_P_IP))
			return TC_ACT_OK;
		inner_proto = bpf_htons(ETH_P_IPV6);
		inner_v4 = 0;
		inner_ecn = (b[1] >> 4) & ECN_MASK;
		break;
	default:
		return TC_ACT_OK;
	}

	if (outer_ecn == ECN_CE && inner_ecn == ECN_NOT_ECT) {
		count(DSRLB_STAT_ECN_DROP);
		return TC_ACT_SHOT;
	}
	if (strip(skb, off - ETH_HLEN, inner_proto, outer_v4 != inner_v4)) {
		count(DSRLB_STAT_FAIL);
		return TC_ACT_SHOT;
	}
	if (outer_ecn == ECN_CE && inner_ecn != ECN_CE &&
	    mark_ce(skb, inner_v4)) {
		count(DSRLB_STAT_FAIL);
		return TC_ACT_SHOT;
	}
	count(DSRLB_STAT_DECAP);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
