// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Resets sent (tcp:tcp_send_reset) and received (tcp:tcp_receive_reset), per flow, with the TCP
 * state they hit. Records are read with CO-RE: since 6.10 tcp_send_reset stores sockaddrs and a
 * reason; before, it shared the tcp_event_sk_skb record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "reset.h"
#include "sock_helpers.h"
#include "flowtable.h"
#include "events.h"

const volatile __u32 target_netns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RST_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

FLOW_TABLES(struct flow, struct reset_counts, 16384);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct trace_event_raw_tcp_event_sk_skb___old {
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

static __always_inline void record(struct flow *flow, __u8 state, __u8 direction, __u32 reason)
{
	struct reset_counts zero = {};
	struct reset_counts *counts = FLOW_ENTRY(flow, &zero);

	PERCPU_BUMP(stats, direction == RESET_SENT ? RST_STAT_SENT : RST_STAT_RECEIVED);
	if (!counts)
		PERCPU_BUMP(stats, RST_STAT_FLOWS_FULL);
	else {
		if (direction == RESET_SENT)
			__sync_fetch_and_add(&counts->sent, 1);
		else
			__sync_fetch_and_add(&counts->received, 1);
	}
	struct reset_event *e = EVENT_RESERVE(events, sizeof(*e), stats, RST_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->flow = *flow;
	e->state = state;
	e->direction = direction;
	e->pad = 0;
	e->reason = reason;
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcpi_reset_send(void *ctx)
{
	struct flow flow = {};
	const struct sock *sk;
	const struct sk_buff *skb;
	__u32 reason = 0;
	int state;

	if (bpf_core_type_exists(struct trace_event_raw_tcp_send_reset) &&
	    bpf_core_field_exists(struct trace_event_raw_tcp_send_reset, reason)) {
		struct trace_event_raw_tcp_send_reset *tp = ctx;
		__u16 lfamily = 0, rfamily = 0;

		sk = BPF_CORE_READ(tp, skaddr);
		skb = BPF_CORE_READ(tp, skbaddr);
		state = BPF_CORE_READ(tp, state);
		reason = BPF_CORE_READ(tp, reason);
		flow_from_sockaddr(tp->saddr, flow.laddr, &flow.lport, &lfamily);
		flow_from_sockaddr(tp->daddr, flow.raddr, &flow.rport, &rfamily);
		flow.family = lfamily;
	} else {
		struct trace_event_raw_tcp_event_sk_skb___old *tp = ctx;

		sk = BPF_CORE_READ(tp, skaddr);
		skb = BPF_CORE_READ(tp, skbaddr);
		state = BPF_CORE_READ(tp, state);
		flow.lport = BPF_CORE_READ(tp, sport);
		flow.rport = BPF_CORE_READ(tp, dport);
		flow_addrs(&flow, BPF_CORE_READ(tp, family), tp->saddr, tp->daddr, tp->saddr_v6, tp->daddr_v6);
	}
	/* A reset answering a packet for no socket has no sk: its namespace is the packet's. */
	flow.netns = sk ? sock_netns(sk) : (skb ? skb_netns(skb) : 0);
	if (target_netns && flow.netns != target_netns)
		return 0;
	record(&flow, sk ? state : 0, RESET_SENT, reason);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcpi_reset_recv(struct trace_event_raw_tcp_event_sk *tp)
{
	struct flow flow = {};
	const struct sock *sk = BPF_CORE_READ(tp, skaddr);

	flow.netns = sock_netns(sk);
	if (target_netns && flow.netns != target_netns)
		return 0;
	flow.lport = BPF_CORE_READ(tp, sport);
	flow.rport = BPF_CORE_READ(tp, dport);
	flow_addrs(&flow, BPF_CORE_READ(tp, family), tp->saddr, tp->daddr, tp->saddr_v6, tp->daddr_v6);
	record(&flow, BPF_CORE_READ(sk, __sk_common.skc_state), RESET_RECEIVED, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
