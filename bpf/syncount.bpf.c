// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Incoming TCP packet counter: the same parser as a TC ingress program and as an XDP program.
 * Counts per CPU without locks or atomics (one CPU never runs two packet programs at once), and
 * always lets the packet through: TC_ACT_UNSPEC keeps any later tc filter in charge, XDP_PASS
 * hands the frame to the stack unchanged.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include "packet.h"
#include "syncount.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct syn_counters);
} counters SEC(".maps");

/* SYNs per destination port: an array indexed by port, so it can never fill up. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} syn_by_port SEC(".maps");

static __always_inline void count(int result, const struct tcp_view *tcp)
{
	__u32 zero = 0;
	struct syn_counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (!c)
		return;
	if (result == PARSE_MALFORMED || result == PARSE_TRUNCATED) {
		c->malformed++;
		return;
	}
	if (result != PARSE_TCP)
		return;

	__u8 flags = tcp->flags;

	c->tcp++;
	if (flags & TCP_FLAG_SYN) {
		if (flags & TCP_FLAG_ACK) {
			c->synack++;
		} else {
			__u32 port = tcp->dport;
			__u64 *n = bpf_map_lookup_elem(&syn_by_port, &port);

			c->syn++;
			if (n)
				(*n)++;
		}
	}
	if (flags & TCP_FLAG_FIN)
		c->fin++;
	if (flags & TCP_FLAG_RST)
		c->rst++;
	if ((flags & (TCP_FLAG_ACK | TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) == TCP_FLAG_ACK &&
	    tcp->payload_len == 0)
		c->ack++;
}

SEC("tc")
int tcpi_syn_tc(struct __sk_buff *skb)
{
	struct tcp_view tcp = {};
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	int result = parse_eth_tcp(data, data_end, &tcp);

	/* Headers in paged data: pull them into the linear area once and parse again. Only what is
	 * really cut short (skb->len covered) counts as malformed. */
	if (result == PARSE_TRUNCATED && skb->len > data_end - data) {
		__u32 want = skb->len < MAX_HEADER_BYTES ? skb->len : MAX_HEADER_BYTES;

		if (bpf_skb_pull_data(skb, want) == 0) {
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			result = parse_eth_tcp(data, data_end, &tcp);
		}
	}
	count(result, &tcp);
	return TC_ACT_UNSPEC;
}

SEC("xdp")
int tcpi_syn_xdp(struct xdp_md *ctx)
{
	struct tcp_view tcp = {};
	int result = parse_eth_tcp((void *)(long)ctx->data, (void *)(long)ctx->data_end, &tcp);

	count(result, &tcp);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
