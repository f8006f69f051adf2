/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * drops: TCP packets the kernel dropped (skb:kfree_skb with its drop reason), per reason and per
 * flow, and TCP sockets whose receive queue was full (sock:sock_rcvqueue_full; TCP's own receive
 * path never fires it, so user space adds the kernel's TcpExt TCPRcvQDrop). Reason numbers are
 * the running kernel's; user space names them from the kernel's BTF.
 *
 * Not every kfree_skb is a drop. Tearing a connection down frees packets that were handled in
 * full: when a socket goes to TIME_WAIT the peer's FIN left on its receive queue is purged
 * (QUEUE_PURGE, sk_stream_kill_queues; before 6.6 without a reason), and segments that reach a
 * closing socket are freed without a reason once handled (NOT_SPECIFIED: the last ACK reaching a
 * LAST_ACK socket in tcp_rcv_state_process, segments a TIME_WAIT socket answered in tcp_v4_rcv).
 * Measured on a healthy server (DropsProbeTest): one NOT_SPECIFIED per connection on the side that
 * closes second, and a QUEUE_PURGE for most connections on the side that closes first; nstat and
 * the capture show nothing lost. Those two reasons are counted apart as teardown frees, with
 * nothing per flow, and are not drops (README, "What counts as a drop"). Such frees carry neither
 * a device nor a socket: their namespace comes from the receiving socket (rx_sk, 6.12+).
 * kfree_skb fires for every freed packet of every protocol, so the handler tests the reason and
 * the protocol before any other work.
 *
 * Shared with Java (probe/drops): struct drop_key, struct drop_event, enum drop_stat.
 */
#ifndef TCPINSPECT_PROBE_DROPS_H
#define TCPINSPECT_PROBE_DROPS_H

#include "lib/probe.h"
#include "lib/flow.h"
#include "lib/maps.h"
#include "lib/events.h"
#include "lib/flowtable.h"
#include "lib/skb.h"

/* Reasons at or above this share the last slot of the per-reason array. */
#define DROP_REASON_SLOTS 256

/* Per flow and reason (the drained drops_flows tables): the packet's destination is the local side. */
struct drop_key {
	struct flow flow;
	__u32 reason; /* enum skb_drop_reason of the running kernel */
};

struct drop_event {
	__u64 ts_ns;
	struct flow flow;
	__u32 reason;
	__u32 pad;
};

enum drop_stat {
	DROP_STAT_TOTAL = 0,
	DROP_STAT_RCVQUEUE_FULL = 1, /* sock:sock_rcvqueue_full on TCP sockets */
	DROP_STAT_EVENTS_LOST = 2,
	DROP_STAT_FLOWS_FULL = 3,
	DROP_STAT_TEARDOWN = 4,      /* TCP packets freed at teardown (QUEUE_PURGE, NOT_SPECIFIED): not drops */
	DROP_STAT_MAX = 5,
};

PROBE_SWITCH(drops);
SHARED_WITH_JAVA(struct drop_event, drop_event);
SHARED_WITH_JAVA(enum drop_stat, drop_stat);
PERCPU_COUNTERS(drops_stats, DROP_STAT_MAX);
PERCPU_COUNTERS(drops_by_reason, DROP_REASON_SLOTS);
FLOW_TABLES(drops, struct drop_key, __u64, 16384);
EVENT_RING(drops_events, 1 << 20);

/* The namespace of a freed packet: its device's, else its socket's (kernels from 6.12 pass the receiving one). */
static __always_inline __u32 drops_netns(const struct sk_buff *skb, const struct sock *rx_sk)
{
	const struct net_device *dev = skb->dev;

	if (dev)
		return dev->nd_net.net->ns.inum;
	const struct sock *sk = skb->sk ? skb->sk : rx_sk;

	return sk ? sock_netns_btf(sk) : 0;
}

/* tp_btf/kfree_skb; rx_sk is NULL on kernels before 6.12. */
static __always_inline void drops_on_kfree(const struct sk_buff *skb, __u32 reason, const struct sock *rx_sk)
{
	if (!drops_enabled)
		return;
	__u16 proto = skb->protocol;

	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return;
	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED) ||
	    (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_QUEUE_PURGE) &&
	     reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_QUEUE_PURGE))) {
		if (skb_is_tcp(skb) && netns_wanted(drops_netns(skb, rx_sk))) {
			PERCPU_ADD(drops_stats, DROP_STAT_TEARDOWN);
			PERCPU_ADD(drops_by_reason, reason < DROP_REASON_SLOTS ? reason : DROP_REASON_SLOTS - 1);
		}
		return;
	}
	struct drop_key key = {};

	if (!skb_tcp_flow(skb, &key.flow, true))
		return;
	key.flow.netns = drops_netns(skb, rx_sk);
	if (!netns_wanted(key.flow.netns))
		return;
	key.reason = reason;

	PERCPU_ADD(drops_stats, DROP_STAT_TOTAL);
	PERCPU_ADD(drops_by_reason, reason < DROP_REASON_SLOTS ? reason : DROP_REASON_SLOTS - 1);
	__u64 zero = 0;
	__u64 *n = FLOW_ENTRY(drops, &key, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		PERCPU_ADD(drops_stats, DROP_STAT_FLOWS_FULL);

	struct drop_event *e = EVENT_RESERVE(drops_events, sizeof(*e), drops_stats, DROP_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->flow = key.flow;
	e->reason = reason;
	e->pad = 0;
	bpf_ringbuf_submit(e, events_wakeup_flag(sizeof(*e)));
}

/* tp_btf/sock_rcvqueue_full */
static __always_inline void drops_on_rcvqueue_full(const struct sock *sk)
{
	if (!drops_enabled || sk->sk_protocol != IPPROTO_TCP || !netns_wanted(sock_netns_btf(sk)))
		return;
	PERCPU_ADD(drops_stats, DROP_STAT_RCVQUEUE_FULL);
}

#endif
