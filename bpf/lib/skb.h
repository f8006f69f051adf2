/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The TCP flow of an skb handed to a tracepoint (a freed packet, the packet a reset answers): its
 * IP and TCP headers read from the skb's memory with bpf_probe_read_kernel, as packet hooks parse
 * them (packet.h): IPv6 extension headers skipped, IPv4 and IPv6 fragments other than the first
 * carrying no TCP header.
 */
#ifndef TCPINSPECT_SKB_H
#define TCPINSPECT_SKB_H

#include "packet.h"

/*
 * Reads the flow of a TCP packet, the local side being its destination (dst_local, a packet
 * received) or its source (a packet sent). Returns 1 for TCP, 0 for anything else or unreadable.
 * The namespace is left to the caller.
 */
static __always_inline int skb_tcp_flow(const struct sk_buff *skb, struct flow *flow, bool dst_local)
{
	unsigned char *head = skb->head;
	unsigned char *l3 = head + skb->network_header;
	unsigned char *l4;
	__u16 proto = bpf_ntohs(skb->protocol);

	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), l3) || ip.version != 4 || ip.ihl < 5 ||
		    ip.protocol != IPPROTO_TCP || (bpf_ntohs(ip.frag_off) & 0x1FFF))
			return 0;
		flow->family = FLOW_AF_INET;
		__builtin_memcpy(flow->laddr, dst_local ? &ip.daddr : &ip.saddr, 4);
		__builtin_memcpy(flow->raddr, dst_local ? &ip.saddr : &ip.daddr, 4);
		l4 = l3 + ip.ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), l3) || ip6.version != 6)
			return 0;
		__u8 next = ip6.nexthdr;

		l4 = l3 + sizeof(ip6);
		for (int i = 0; i < MAX_IPV6_EXT_HEADERS && next != IPPROTO_TCP; i++) {
			struct ipv6_opt_hdr_min opt;
			__be16 frag;

			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
			    next != IPPROTO_AH && next != IPPROTO_FRAGMENT)
				return 0;
			if (bpf_probe_read_kernel(&opt, sizeof(opt), l4))
				return 0;
			if (next == IPPROTO_FRAGMENT) {
				if (bpf_probe_read_kernel(&frag, sizeof(frag), l4 + 2) ||
				    (bpf_ntohs(frag) & IPV6_FRAG_OFFSET_MASK))
					return 0;
				l4 += 8;
			} else if (next == IPPROTO_AH) {
				l4 += ((__u32)opt.hdrlen + 2) * 4;
			} else {
				l4 += ((__u32)opt.hdrlen + 1) * 8;
			}
			next = opt.nexthdr;
		}
		if (next != IPPROTO_TCP)
			return 0;
		flow->family = FLOW_AF_INET6;
		__builtin_memcpy(flow->laddr, dst_local ? &ip6.daddr : &ip6.saddr, 16);
		__builtin_memcpy(flow->raddr, dst_local ? &ip6.saddr : &ip6.daddr, 16);
	} else {
		return 0;
	}
	__u16 ports[2];

	if (bpf_probe_read_kernel(ports, sizeof(ports), l4))
		return 0;
	flow->lport = bpf_ntohs(dst_local ? ports[1] : ports[0]);
	flow->rport = bpf_ntohs(dst_local ? ports[0] : ports[1]);
	return 1;
}

/* Whether a packet's first header after IP is TCP: one small read, for paths that only count. */
static __always_inline bool skb_is_tcp(const struct sk_buff *skb)
{
	unsigned char *l3 = skb->head + skb->network_header;
	__u16 proto = bpf_ntohs(skb->protocol);
	__u8 next = 0;

	if (proto == ETH_P_IP)
		bpf_probe_read_kernel(&next, 1, l3 + offsetof(struct iphdr, protocol));
	else if (proto == ETH_P_IPV6)
		bpf_probe_read_kernel(&next, 1, l3 + offsetof(struct ipv6hdr, nexthdr));
	return next == IPPROTO_TCP;
}

#endif
