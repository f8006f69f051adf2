// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * TCP packets the kernel dropped (skb:kfree_skb with its drop reason), per reason and per flow,
 * plus TCP sockets whose receive queue was full (sock:sock_rcvqueue_full). Reason numbers are
 * the running kernel's; user space names them from the kernel's BTF.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "drops.h"
#include "sock_helpers.h"
#include "flowtable.h"
#include "events.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define PROTO_TCP 6

const volatile __u32 target_netns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_REASON_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} by_reason SEC(".maps");

FLOW_TABLES(struct drop_key, __u64, 16384);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Reads the TCP/IP headers of a dropped packet into a flow (destination = local). 0 if not TCP. */
static __always_inline int tcp_flow_of(const struct sk_buff *skb, __u16 protocol, struct flow *flow)
{
	unsigned char *head = skb->head;
	__u16 network = skb->network_header;
	__u16 ports[2];
	void *l4;

	if (protocol == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + network) || ip.version != 4 || ip.protocol != PROTO_TCP)
			return 0;
		flow->family = FLOW_AF_INET;
		__builtin_memcpy(flow->laddr, &ip.daddr, 4);
		__builtin_memcpy(flow->raddr, &ip.saddr, 4);
		l4 = head + network + ip.ihl * 4;
	} else if (protocol == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + network) || ip6.nexthdr != PROTO_TCP)
			return 0;
		flow->family = FLOW_AF_INET6;
		__builtin_memcpy(flow->laddr, &ip6.daddr, 16);
		__builtin_memcpy(flow->raddr, &ip6.saddr, 16);
		l4 = head + network + sizeof(ip6);
	} else {
		return 0;
	}
	if (bpf_probe_read_kernel(ports, sizeof(ports), l4))
		return 0;
	flow->rport = bpf_ntohs(ports[0]);
	flow->lport = bpf_ntohs(ports[1]);
	return 1;
}

/*
 * BTF-typed: the skb is read with plain loads (the packet bytes still need bpf_probe_read_kernel).
 * Kernels from 6.12 pass the receiving socket as a fourth argument; it names the namespace of a
 * packet dropped after its device was cleared.
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(tcpi_drops_kfree, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct drop_key key = {};

	if (!tcp_flow_of(skb, bpf_ntohs(skb->protocol), &key.flow))
		return 0;
	const struct net_device *dev = skb->dev;

	if (dev) {
		key.flow.netns = dev->nd_net.net->ns.inum;
	} else {
		const struct sock *sk = skb->sk;

		if (!sk && bpf_core_field_exists(struct trace_event_raw_kfree_skb, rx_sk))
			sk = (const struct sock *)ctx[3];
		if (sk)
			key.flow.netns = sock_netns_btf(sk);
	}
	if (target_netns && key.flow.netns != target_netns)
		return 0;
	key.reason = reason;

	PERCPU_BUMP(stats, DROP_STAT_TOTAL);
	PERCPU_BUMP(by_reason, reason < DROP_REASON_SLOTS ? reason : DROP_REASON_SLOTS - 1);
	__u64 zero = 0;
	__u64 *n = FLOW_ENTRY(&key, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		PERCPU_BUMP(stats, DROP_STAT_FLOWS_FULL);

	struct drop_event *e = EVENT_RESERVE(events, sizeof(*e), stats, DROP_STAT_EVENTS_LOST);

	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->flow = key.flow;
	e->reason = reason;
	e->pad = 0;
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
	return 0;
}

SEC("tp_btf/sock_rcvqueue_full")
int BPF_PROG(tcpi_drops_rcvq, struct sock *sk, struct sk_buff *skb)
{
	if (BPF_CORE_READ(sk, sk_protocol) != PROTO_TCP)
		return 0;
	if (target_netns && sock_netns(sk) != target_netns)
		return 0;
	PERCPU_BUMP(stats, DROP_STAT_RCVQUEUE_FULL);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
