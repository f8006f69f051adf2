/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Bounded, verifier-friendly parsing of Ethernet / VLAN / IPv4 / IPv6 / TCP headers, shared by
 * every packet probe (XDP and TC). The parser only reads; it never changes the packet.
 */
#ifndef TCPINSPECT_PACKET_H
#define TCPINSPECT_PACKET_H

#ifdef TCPINSPECT_VMLINUX
/* Included after vmlinux.h (a probe that also uses tracepoints): the types are there, the UAPI
 * macros are not. */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define IPPROTO_HOPOPTS 0
#define IPPROTO_TCP 6
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60
#else
#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/in.h>
#endif
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* 802.1Q and 802.1ad (QinQ): at most this many tags are skipped. */
#define MAX_VLAN_TAGS 2
/* IPv6 extension headers skipped before giving up and calling the packet malformed. */
#define MAX_IPV6_EXT_HEADERS 8

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

enum parse_result {
	PARSE_NOT_TCP = 0,   /* not IP, not TCP, or a non-first fragment: nothing to count */
	PARSE_TCP = 1,       /* a well-formed TCP header was found */
	PARSE_MALFORMED = 2, /* IP or TCP header fields are impossible */
	PARSE_TRUNCATED = 3, /* headers run past the bytes available (see tc pull in callers) */
};

/* What the probes need from a TCP segment; filled only when the result is PARSE_TCP. */
struct tcp_view {
	__u16 sport;       /* host byte order */
	__u16 dport;       /* host byte order */
	__u8 flags;        /* the TCP flags byte: CWR ECE URG ACK PSH RST SYN FIN */
	__u8 ip_version;   /* 4 or 6 */
	__u16 l3_offset;   /* where the IP header starts, for callers that need the addresses */
	__u16 l4_offset;   /* where the TCP header starts, for callers that need seq, ack, window */
	__u32 payload_len; /* bytes of TCP payload according to the IP length fields */
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct ipv6_opt_hdr_min {
	__u8 nexthdr;
	__u8 hdrlen;
};

/* Offset of the fragment offset bits in the IPv6 fragment header's second 16-bit word. */
#define IPV6_FRAG_OFFSET_MASK 0xFFF8

static __always_inline int parse_tcp_header(void *l4, void *data_end, __u32 l4_len_from_ip,
					    struct tcp_view *out)
{
	struct tcphdr *tcp = l4;

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
	__u32 ihl = ip->ihl * 4;
	__u32 total = bpf_ntohs(ip->tot_len);
	if (ihl < sizeof(*ip) || total < ihl)
		return PARSE_MALFORMED;
	if (ip->protocol != IPPROTO_TCP)
		return PARSE_NOT_TCP;
	/* A non-first fragment carries no TCP header. */
	if (bpf_ntohs(ip->frag_off) & 0x1FFF)
		return PARSE_NOT_TCP;
	if (l3 + ihl > data_end)
		return PARSE_TRUNCATED;
	out->ip_version = 4;
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
	__u32 remaining = bpf_ntohs(ip6->payload_len);
	__u8 next = ip6->nexthdr;
	void *cursor = ip6 + 1;

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		__u32 len;

		switch (next) {
		case IPPROTO_TCP:
			out->ip_version = 6;
			out->l4_offset = out->l3_offset + (cursor - l3);
			return parse_tcp_header(cursor, data_end, remaining, out);
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
		case IPPROTO_FRAGMENT: {
			struct ipv6_opt_hdr_min *opt = cursor;

			if ((void *)(opt + 1) > data_end)
				return PARSE_TRUNCATED;
			if (next == IPPROTO_FRAGMENT) {
				__be16 *frag = cursor + 2;

				if ((void *)(frag + 1) > data_end)
					return PARSE_TRUNCATED;
				if (bpf_ntohs(*frag) & IPV6_FRAG_OFFSET_MASK)
					return PARSE_NOT_TCP;
				len = 8;
			} else if (next == IPPROTO_AH) {
				len = ((__u32)opt->hdrlen + 2) * 4;
			} else {
				len = ((__u32)opt->hdrlen + 1) * 8;
			}
			if (len > remaining)
				return PARSE_MALFORMED;
			remaining -= len;
			next = opt->nexthdr;
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

/* Longest header chain the parser may need: eth + 2 tags + IPv6 + extension headers + TCP with
 * options. A TC program pulls at most this much into the linear area when headers are paged. */
#define MAX_HEADER_BYTES 512

#endif
