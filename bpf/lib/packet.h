/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A packet as the packet hooks see it, parsed once for every probe that runs there: bounded,
 * verifier-friendly parsing of Ethernet / VLAN / IPv4 / IPv6 / TCP headers into a struct pkt, and
 * the flow tuple and its hash made at most once, when a probe first asks for them. The parser only
 * reads; it never changes the packet.
 */
#ifndef TCPINSPECT_PACKET_H
#define TCPINSPECT_PACKET_H

#include "flow.h"
#include "flowslots.h"

/* UAPI macros that vmlinux.h (types only) does not carry. */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define TC_ACT_UNSPEC (-1)
/* IPv6 extension headers and ICMPv6 (linux/in6.h macros; IPPROTO_TCP and IPPROTO_AH are enum values in vmlinux.h). */
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_DSTOPTS 60
#define IPPROTO_ICMPV6 58

/* 802.1Q and 802.1ad (QinQ): at most this many tags are skipped. */
#define MAX_VLAN_TAGS 2
/* IPv6 extension headers skipped before giving up and calling the packet malformed. */
#define MAX_IPV6_EXT_HEADERS 8

/*
 * Longest header chain the parser may need: eth + 2 tags + IPv6 + extension headers + TCP with
 * options. A TC program pulls at most this much into the linear area when headers are paged.
 */
#define MAX_HEADER_BYTES 512

enum parse_result {
	PARSE_NOT_TCP = 0,   /* not IP, not TCP, or a non-first fragment: nothing to count */
	PARSE_TCP = 1,       /* a well-formed TCP header was found */
	PARSE_MALFORMED = 2, /* IP or TCP header fields are impossible */
	PARSE_TRUNCATED = 3, /* headers run past the bytes available (see pkt_parse_skb) */
};
/*
 * The IP headers (IPv4 with its options, IPv6 with its extension headers) are judged for every IP
 * packet, whatever they carry; what follows them only when it is TCP. Lengths are judged before
 * anything they cover (a fragment offset) is believed. Neither the IP length fields against the
 * frame's length nor the contents of options are judged. PacketFuzzTest holds this against a Java
 * reference parser and tshark.
 */

/* What the probes need from a TCP segment; filled only when the result is PARSE_TCP. */
struct tcp_view {
	__u16 sport;       /* host byte order */
	__u16 dport;       /* host byte order */
	__u8 flags;        /* the TCP flags byte: CWR ECE URG ACK PSH RST SYN FIN */
	__u8 ip_version;   /* 4 or 6 for any IP packet with a valid version (even when not TCP); 0 otherwise */
	__u16 l3_offset;   /* where the IP header starts, for callers that need the addresses */
	__u16 l4_offset;   /* where the TCP header starts, for callers that need seq, ack, window */
	__u8 flags_hi;     /* the low nibble of the data offset byte: 3 reserved bits, then AccECN's AE */
	__u8 doff;         /* TCP header length in bytes */
	__u32 payload_len; /* bytes of TCP payload according to the IP length fields */
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10
#define TCP_FLAG_URG 0x20
/* In tcp_view.flags_hi: AccECN's AE bit, and the three bits still reserved. */
#define TCP_FLAG_HI_AE 0x01
#define TCP_FLAG_HI_RESERVED 0x0E

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct ipv6_opt_hdr_min {
	__u8 nexthdr;
	__u8 hdrlen;
};

/* The fragment offset bits of the IPv6 fragment header's second 16-bit word. */
#define IPV6_FRAG_OFFSET_MASK 0xFFF8

static __always_inline int parse_tcp_header(void *l4, void *data_end, __u32 l4_len_from_ip,
					    struct tcp_view *out)
{
	struct tcphdr *tcp = l4;

	/* Shorter than a TCP header by the IP header's own count (a tiny first fragment): impossible. */
	if (l4_len_from_ip < sizeof(*tcp))
		return PARSE_MALFORMED;
	if ((void *)(tcp + 1) > data_end)
		return PARSE_TRUNCATED;
	__u32 hdr_len = tcp->doff * 4;
	if (hdr_len < sizeof(*tcp) || hdr_len > l4_len_from_ip)
		return PARSE_MALFORMED;
	/* The options must be present too, or the header is cut. */
	if (l4 + hdr_len > data_end)
		return PARSE_TRUNCATED;
	out->sport = bpf_ntohs(tcp->source);
	out->dport = bpf_ntohs(tcp->dest);
	out->flags = ((__u8 *)tcp)[13];
	out->flags_hi = ((__u8 *)tcp)[12] & 0x0F;
	out->doff = hdr_len;
	out->payload_len = l4_len_from_ip - hdr_len;
	return PARSE_TCP;
}

static __always_inline int parse_ipv4(void *l3, void *data_end, struct tcp_view *out)
{
	struct iphdr *ip = l3;

	if ((void *)(ip + 1) > data_end)
		return PARSE_TRUNCATED;
	if (ip->version != 4)
		return PARSE_MALFORMED;
	out->ip_version = 4; /* set for every IPv4 packet: the enforcer judges all of them by source */
	__u32 ihl = ip->ihl * 4;
	__u32 total = bpf_ntohs(ip->tot_len);
	if (ihl < sizeof(*ip) || total < ihl)
		return PARSE_MALFORMED;
	/* Options cut short are a cut IP header, whatever the protocol. */
	if (l3 + ihl > data_end)
		return PARSE_TRUNCATED;
	if (ip->protocol != IPPROTO_TCP)
		return PARSE_NOT_TCP;
	/* A non-first fragment carries no TCP header. */
	if (bpf_ntohs(ip->frag_off) & 0x1FFF)
		return PARSE_NOT_TCP;
	out->l4_offset = out->l3_offset + ihl;
	return parse_tcp_header(l3 + ihl, data_end, total - ihl, out);
}

static __always_inline int parse_ipv6(void *l3, void *data_end, struct tcp_view *out)
{
	struct ipv6hdr *ip6 = l3;

	if ((void *)(ip6 + 1) > data_end)
		return PARSE_TRUNCATED;
	if (ip6->version != 6)
		return PARSE_MALFORMED;
	out->ip_version = 6;
	__u32 remaining = bpf_ntohs(ip6->payload_len);
	__u8 next = ip6->nexthdr;
	void *cursor = ip6 + 1;

	/* One turn for each extension header skipped, and one more for the header after the last. */
#pragma unroll
	for (int i = 0; i <= MAX_IPV6_EXT_HEADERS; i++) {
		__u32 len;

		switch (next) {
		case IPPROTO_TCP:
			out->l4_offset = out->l3_offset + (cursor - l3);
			return parse_tcp_header(cursor, data_end, remaining, out);
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
		case IPPROTO_FRAGMENT: {
			struct ipv6_opt_hdr_min *opt = cursor;

			if (i == MAX_IPV6_EXT_HEADERS)
				return PARSE_MALFORMED;
			if ((void *)(opt + 1) > data_end)
				return PARSE_TRUNCATED;
			if (next == IPPROTO_FRAGMENT)
				len = 8;
			else if (next == IPPROTO_AH)
				len = ((__u32)opt->hdrlen + 2) * 4;
			else
				len = ((__u32)opt->hdrlen + 1) * 8;
			if (len > remaining)
				return PARSE_MALFORMED;
			if (cursor + len > data_end)
				return PARSE_TRUNCATED;
			if (next == IPPROTO_FRAGMENT) {
				__be16 *frag = cursor + 2;

				/* Known from len; said again for the verifier. */
				if ((void *)(frag + 1) > data_end)
					return PARSE_TRUNCATED;
				if (bpf_ntohs(*frag) & IPV6_FRAG_OFFSET_MASK)
					return PARSE_NOT_TCP;
			}
			remaining -= len;
			next = opt->nexthdr;
			/*
			 * One state for every kind of header from here on (verifier.h), as verifier_forget
			 * would give, without its call: read back from *out, memory whose contents the
			 * verifier does not follow. A call here would be a third stack frame under the
			 * enforcer's XDP program, more than kernels before 6.9 allow it (they round each
			 * frame up to 32 bytes against a total of 512).
			 */
			__u16 kept = out->l4_offset;

			out->l4_offset = len;
			len = *(volatile __u16 *)&out->l4_offset;
			out->l4_offset = kept;
			if (len > 2048)
				return PARSE_MALFORMED; /* never: no header is longer */
			cursor += len;
			break;
		}
		default:
			return PARSE_NOT_TCP;
		}
	}
	return PARSE_MALFORMED;
}

/* Parses an Ethernet frame from data to data_end. */
static __always_inline int parse_eth_tcp(void *data, void *data_end, struct tcp_view *out)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return PARSE_TRUNCATED;
	__be16 proto = eth->h_proto;
	void *cursor = eth + 1;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_tag *tag = cursor;

		if ((void *)(tag + 1) > data_end)
			return PARSE_TRUNCATED;
		proto = tag->encapsulated_proto;
		cursor = tag + 1;
	}
	out->l3_offset = cursor - data;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(cursor, data_end, out);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(cursor, data_end, out);
	return PARSE_NOT_TCP;
}

/*
 * One packet at a packet hook, parsed once. The tuple (local side first: the destination of an
 * incoming packet, the source of an outgoing one) and its hash are made when a probe first asks
 * (pkt_tuple): most packets need neither.
 */
struct pkt {
	void *data;
	void *data_end;
	int result;          /* enum parse_result */
	bool incoming;
	bool l3;             /* data starts at the IP header (a cgroup_skb program's packet), not at Ethernet's */
	bool tuple_tried;
	bool tuple_ok;
	struct tcp_view tcp; /* valid when result == PARSE_TCP */
	__u64 hash;          /* flowslot_hash of the tuple, never 0, once tuple_ok */
	__u64 source_hash;   /* source_hash of the remote address, once asked for (pkt_source_hash) */
	struct pkt_tuple tuple FLOWSLOT_KEY_ALIGNED;
};

/*
 * The parse itself is a global function, one for each kind of context: the verifier checks a
 * global function once, on its own, where an inlined parse would be checked again along every path
 * through the handlers after it (that was most of a start's time: BENCHMARKS.md, startup). A
 * global function cannot hand packet pointers back, so it writes only numbers into *out, and the
 * handlers check every offset they take from it against the packet's end.
 */
__noinline int pkt_parse_tc_frame(struct __sk_buff *skb, struct tcp_view *out)
{
	if (!out)
		return PARSE_NOT_TCP;
	return parse_eth_tcp((void *)(long)skb->data, (void *)(long)skb->data_end, out);
}

/* A cgroup_skb program's packet: from the IP header on, its family in skb->protocol. */
__noinline int pkt_parse_l3_packet(struct __sk_buff *skb, struct tcp_view *out)
{
	if (!out)
		return PARSE_NOT_TCP;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	out->l3_offset = 0;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return parse_ipv4(data, data_end, out);
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(data, data_end, out);
	return PARSE_NOT_TCP;
}

__noinline int pkt_parse_xdp_frame(struct xdp_md *ctx, struct tcp_view *out)
{
	if (!out)
		return PARSE_NOT_TCP;
	return parse_eth_tcp((void *)(long)ctx->data, (void *)(long)ctx->data_end, out);
}

/* A packet about to be parsed: nothing known yet (the parse fills p->tcp and p->result). */
static __always_inline void pkt_reset(struct pkt *p, bool incoming)
{
	p->incoming = incoming;
	p->l3 = false;
	p->tuple_tried = false;
	p->tuple_ok = false;
	/*
	 * Word by word, and volatile: clang 14 otherwise zeroes these 32 bytes with 32 single-byte
	 * stores in the packet programs, a few ns of every packet (BENCHMARKS.md).
	 */
	_Static_assert(sizeof(p->tcp) == 16 && __builtin_offsetof(struct pkt, tcp) % 8 == 0, "tcp_view as two words");
	volatile __u64 *tcp = (volatile __u64 *)&p->tcp;

	tcp[0] = 0;
	tcp[1] = 0;
	*(volatile __u64 *)&p->hash = 0;
	*(volatile __u64 *)&p->source_hash = 0;
}

/*
 * Parses an skb at a TC hook. Headers in paged data are pulled into the linear area once, for
 * every probe, and parsed again; only what is really cut short (skb->len covered) stays truncated.
 * Pulling moves bytes between the skb's areas; it changes neither the packet nor its fate. The
 * packet's pointers are read after the parse: a pull moves the data, and a global function cannot
 * hand pointers back.
 */
static __always_inline void pkt_parse_skb(struct __sk_buff *skb, struct pkt *p, bool incoming)
{
	pkt_reset(p, incoming);
	p->result = pkt_parse_tc_frame(skb, &p->tcp);
	if (p->result == PARSE_TRUNCATED && skb->len > skb->data_end - skb->data) {
		__u32 want = skb->len < MAX_HEADER_BYTES ? skb->len : MAX_HEADER_BYTES;

		if (bpf_skb_pull_data(skb, want) == 0) {
			pkt_reset(p, incoming);
			p->result = pkt_parse_tc_frame(skb, &p->tcp);
		}
	}
	p->data = (void *)(long)skb->data;
	p->data_end = (void *)(long)skb->data_end;
}

/*
 * Parses a packet at a cgroup_skb hook: the segments a cgroup's sockets receive and send, from the
 * IP header on. The stack has pulled their IP and TCP headers into the linear area already (and a
 * cgroup_skb program may not pull).
 */
static __always_inline void pkt_parse_cgroup_skb(struct __sk_buff *skb, struct pkt *p, bool incoming)
{
	pkt_reset(p, incoming);
	p->l3 = true;
	p->result = pkt_parse_l3_packet(skb, &p->tcp);
	p->data = (void *)(long)skb->data;
	p->data_end = (void *)(long)skb->data_end;
}

static __always_inline void pkt_parse_xdp(struct xdp_md *ctx, struct pkt *p)
{
	pkt_reset(p, true);
	p->result = pkt_parse_xdp_frame(ctx, &p->tcp);
	p->data = (void *)(long)ctx->data;
	p->data_end = (void *)(long)ctx->data_end;
}

/* The segment's TCP header (seq, ack, window), or NULL when out of reach. */
static __always_inline struct tcphdr *pkt_tcp_header(const struct pkt *p)
{
	/* The mask is for the verifier; an offset past it is refused, never wrapped to other bytes. */
	if (p->tcp.l4_offset > 0x7ff)
		return NULL;
	struct tcphdr *th = p->data + (p->tcp.l4_offset & 0x7ff);

	if ((void *)(th + 1) > p->data_end)
		return NULL;
	return th;
}

/* The flow tuple of a TCP segment (PARSE_TCP), made on first use; NULL when the header is out of reach. */
static __always_inline const struct pkt_tuple *pkt_tuple(struct pkt *p)
{
	if (p->tuple_tried)
		return p->tuple_ok ? &p->tuple : NULL;
	p->tuple_tried = true;
	if (p->tcp.l3_offset > 0xff)
		return NULL;
	void *l3 = p->data + (p->tcp.l3_offset & 0xff);
	struct pkt_tuple *t = &p->tuple;
	bool in = p->incoming;

	__builtin_memset(t, 0, sizeof(*t));
	t->lport = in ? p->tcp.dport : p->tcp.sport;
	t->rport = in ? p->tcp.sport : p->tcp.dport;
	if (p->tcp.ip_version == 4) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > p->data_end)
			return NULL;
		t->family = FLOW_AF_INET;
		__builtin_memcpy(t->laddr, in ? &ip->daddr : &ip->saddr, 4);
		__builtin_memcpy(t->raddr, in ? &ip->saddr : &ip->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > p->data_end)
			return NULL;
		t->family = FLOW_AF_INET6;
		__builtin_memcpy(t->laddr, in ? &ip6->daddr : &ip6->saddr, 16);
		__builtin_memcpy(t->raddr, in ? &ip6->saddr : &ip6->daddr, 16);
	}
	p->tuple_ok = true;
	return t;
}

/* The tuple's hash (flowslots.h), made once per packet; 0 when there is no tuple. */
static __always_inline __u64 pkt_tuple_hash(struct pkt *p)
{
	if (p->hash)
		return p->hash;
	if (!pkt_tuple(p))
		return 0;
	p->hash = flowslot_hash(&p->tuple, sizeof(p->tuple) / 8);
	return p->hash;
}

/* The remote address's hash (source_hash, flowslots.h), made once per packet; 0 when there is no tuple. */
static __always_inline __u64 pkt_source_hash(struct pkt *p)
{
	if (p->source_hash)
		return p->source_hash;
	const struct pkt_tuple *t = pkt_tuple(p);

	if (!t)
		return 0;
	p->source_hash = source_hash(t->raddr, t->family);
	return p->source_hash;
}

#endif
