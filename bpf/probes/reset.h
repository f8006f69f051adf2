/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * reset: resets sent (tcp:tcp_send_reset) and received (tcp:tcp_receive_reset), per flow, with the
 * TCP state they hit and, for sent ones, the kernel's reason (enum sk_rst_reason, 6.10+). Both
 * tracepoints are BTF-typed: the flow is read from the socket, or for a reset answering a packet
 * no full socket owns (a SYN to a closed port, a segment for a TIME_WAIT socket) from that packet,
 * as the classic tracepoint's record does.
 *
 * Shared with Java (probe/reset): struct reset_event, struct reset_counts, enum reset_direction,
 * enum reset_stat.
 */
#ifndef TCPINSPECT_PROBE_RESET_H
#define TCPINSPECT_PROBE_RESET_H

#include "lib/probe.h"
#include "lib/flow.h"
#include "lib/maps.h"
#include "lib/events.h"
#include "lib/flowtable.h"
#include "lib/skb.h"

enum reset_direction {
	RESET_SENT = 0,
	RESET_RECEIVED = 1,
};

struct reset_event {
	__u64 ts_ns;
	struct flow flow;
	__u8 state;     /* TCP state the reset hit; 0 when no socket (e.g. a SYN to a closed port) */
	__u8 direction; /* enum reset_direction */
	__u16 pad;
	__u32 reason;   /* enum sk_rst_reason for sent resets where the kernel gives one, else 0 */
};

struct reset_counts {
	__u64 sent;
	__u64 received;
};

enum reset_stat {
	RST_STAT_SENT = 0,
	RST_STAT_RECEIVED = 1,
	RST_STAT_EVENTS_LOST = 2,
	RST_STAT_FLOWS_FULL = 3,
	RST_STAT_MAX = 4,
};

PROBE_SWITCH(reset);
SHARED_WITH_JAVA(struct reset_event, reset_event);
SHARED_WITH_JAVA(enum reset_direction, reset_direction);
SHARED_WITH_JAVA(enum reset_stat, reset_stat);
PERCPU_COUNTERS(reset_stats, RST_STAT_MAX);
FLOW_TABLES(reset, struct flow, struct reset_counts, 16384);
EVENT_RING(reset_events, 1 << 20);

static __always_inline void reset_record(struct flow *flow, __u8 state, enum reset_direction direction, __u32 reason)
{
	struct reset_counts zero = {};
	struct reset_counts *counts = FLOW_ENTRY(reset, flow, &zero);

	PERCPU_BUMP(reset_stats, direction == RESET_SENT ? RST_STAT_SENT : RST_STAT_RECEIVED);
	if (!counts)
		PERCPU_BUMP(reset_stats, RST_STAT_FLOWS_FULL);
	else if (direction == RESET_SENT)
		__sync_fetch_and_add(&counts->sent, 1);
	else
		__sync_fetch_and_add(&counts->received, 1);
	struct reset_event *e = EVENT_RESERVE(reset_events, sizeof(*e), reset_stats, RST_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->flow = *flow;
	e->state = state;
	e->direction = direction;
	e->pad = 0;
	e->reason = reason;
	bpf_ringbuf_submit(e, events_wakeup_flag(sizeof(*e)));
}

/* tp_btf/tcp_send_reset: sk may be NULL (no socket) or not a full socket; skb is the packet answered, NULL for an abort. */
static __always_inline void reset_on_send(const struct sock *sk, const struct sk_buff *skb, __u32 reason)
{
	if (!reset_enabled)
		return;
	struct flow flow = {};

	if (sk && sock_is_full(sk)) {
		flow_of_sock_btf(sk, &flow);
	} else if (!skb || !skb_tcp_flow(skb, &flow, true)) {
		return;
	}
	/* A reset answering a packet for no socket has no sk: its namespace is the packet's. */
	flow.netns = sk ? sock_netns_btf(sk) : skb_netns(skb);
	if (!netns_wanted(flow.netns))
		return;
	reset_record(&flow, sk ? sk->__sk_common.skc_state : 0, RESET_SENT, reason);
}

/* tp_btf/tcp_receive_reset */
static __always_inline void reset_on_receive(const struct sock *sk)
{
	if (!reset_enabled)
		return;
	struct flow flow = {.netns = sock_netns_btf(sk)};

	if (!netns_wanted(flow.netns))
		return;
	flow_of_sock_btf(sk, &flow);
	reset_record(&flow, sk->__sk_common.skc_state, RESET_RECEIVED, 0);
}

#endif
