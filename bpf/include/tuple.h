/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* A connection's addresses and ports as packet hooks see them, for probes that match packets to flows. */
#ifndef TCPINSPECT_TUPLE_H
#define TCPINSPECT_TUPLE_H

#include "flow.h"

/* Local side first. No namespace: a packet hook cannot tell it. */
struct pkt_tuple {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u16 family;
	__u16 pad;
};

/*
 * Fills the tuple of a parsed TCP packet (see parse_eth_tcp). For an incoming packet the local side
 * is the destination; for an outgoing one, the source. Returns 0 when the header is out of reach.
 */
static __always_inline int pkt_tuple_of(void *data, void *data_end, const struct tcp_view *tcp, int incoming,
					struct pkt_tuple *t)
{
	void *l3 = data + (tcp->l3_offset & 0xff);

	t->lport = incoming ? tcp->dport : tcp->sport;
	t->rport = incoming ? tcp->sport : tcp->dport;
	if (tcp->ip_version == 4) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end)
			return 0;
		t->family = FLOW_AF_INET;
		__builtin_memcpy(t->laddr, incoming ? &ip->daddr : &ip->saddr, 4);
		__builtin_memcpy(t->raddr, incoming ? &ip->saddr : &ip->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return 0;
		t->family = FLOW_AF_INET6;
		__builtin_memcpy(t->laddr, incoming ? &ip6->daddr : &ip6->saddr, 16);
		__builtin_memcpy(t->raddr, incoming ? &ip6->saddr : &ip6->daddr, 16);
	}
	return 1;
}

/* The TCP header of a parsed packet, or NULL when out of reach. */
static __always_inline struct tcphdr *pkt_tcp_header(void *data, void *data_end, const struct tcp_view *tcp)
{
	struct tcphdr *th = data + (tcp->l4_offset & 0x7ff);

	if ((void *)(th + 1) > data_end)
		return 0;
	return th;
}

#endif
