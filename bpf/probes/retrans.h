/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * retrans: retransmissions from tcp:tcp_retransmit_skb (data, SYN, FIN) and
 * tcp:tcp_retransmit_synack. Totals per CPU, totals per flow, and one event each. Classic
 * tracepoints whose records are read with CO-RE, so the running kernel's layout is used (the err
 * field of tcp_retransmit_skb exists only since 6.17 and is read only where it exists). They fire
 * rarely, so the record's cost does not matter.
 *
 * Shared with Java (probe/retrans): struct retrans_event, struct retrans_counts, enum
 * retrans_kind, enum retrans_stat.
 */
#ifndef TCPINSPECT_PROBE_RETRANS_H
#define TCPINSPECT_PROBE_RETRANS_H

#include "lib/probe.h"
#include "lib/flow.h"
#include "lib/maps.h"
#include "lib/events.h"
#include "lib/flowtable.h"

enum retrans_kind {
	RETRANS_KIND_DATA = 0,   /* tcp:tcp_retransmit_skb (data, SYN, FIN...) */
	RETRANS_KIND_SYNACK = 1, /* tcp:tcp_retransmit_synack */
};

/* One ring-buffer record per retransmission. */
struct retrans_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	struct flow flow;
	__u8 state;       /* TCP state (TCP_ESTABLISHED = 1 ...) */
	__u8 kind;        /* enum retrans_kind */
	__u16 pad;
	__s32 err;        /* the retransmit's result (0 = sent); 0 on kernels without the field */
};

/* Per-flow totals (the drained retrans_flows tables). */
struct retrans_counts {
	__u64 data;
	__u64 synack;
};

/* Slots of the per-CPU retrans_stats array. */
enum retrans_stat {
	RETRANS_STAT_DATA = 0,
	RETRANS_STAT_SYNACK = 1,
	RETRANS_STAT_EVENTS_LOST = 2, /* ring buffer full: event not delivered (counted, not silent) */
	RETRANS_STAT_FLOWS_FULL = 3,  /* flow table full: retransmit counted in totals but not per flow */
	RETRANS_STAT_MAX = 4,
};

PROBE_SWITCH(retrans);
SHARED_WITH_JAVA(struct retrans_event, retrans_event);
SHARED_WITH_JAVA(enum retrans_kind, retrans_kind);
SHARED_WITH_JAVA(enum retrans_stat, retrans_stat);
PERCPU_COUNTERS(retrans_stats, RETRANS_STAT_MAX);
FLOW_TABLES(retrans, struct flow, struct retrans_counts, 16384);
EVENT_RING(retrans_events, 1 << 20);

static __always_inline void retrans_record(struct flow *flow, __u8 state, enum retrans_kind kind, __s32 err)
{
	struct retrans_counts zero = {};
	struct retrans_counts *counts = FLOW_ENTRY(retrans, flow, &zero);

	PERCPU_BUMP(retrans_stats, kind == RETRANS_KIND_SYNACK ? RETRANS_STAT_SYNACK : RETRANS_STAT_DATA);
	if (!counts)
		PERCPU_BUMP(retrans_stats, RETRANS_STAT_FLOWS_FULL);
	else if (kind == RETRANS_KIND_SYNACK)
		__sync_fetch_and_add(&counts->synack, 1);
	else
		__sync_fetch_and_add(&counts->data, 1);

	struct retrans_event *e = EVENT_RESERVE(retrans_events, sizeof(*e), retrans_stats, RETRANS_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->flow = *flow;
	e->state = state;
	e->kind = kind;
	e->pad = 0;
	e->err = err;
	bpf_ringbuf_submit(e, events_wakeup_flag(sizeof(*e)));
}

/*
 * tp_btf/tcp_retransmit_skb: the socket as the kernel passes it, so no tracepoint record layout
 * has to be followed across kernel versions (and no tracefs is needed); err is the tracepoint's
 * third argument where it has one (6.17+), else 0.
 */
static __always_inline void retrans_on_retransmit_skb(const struct sock *sk, __s32 err)
{
	if (!retrans_enabled || !sk)
		return;
	struct flow flow = {};

	flow.netns = sock_netns_btf(sk);
	if (!netns_wanted(flow.netns))
		return;
	flow_of_sock_btf(sk, &flow);
	retrans_record(&flow, sk->__sk_common.skc_state, RETRANS_KIND_DATA, err);
}

/* tp_btf/tcp_retransmit_synack: the listener and the request socket the SYN-ACK is for. */
static __always_inline void retrans_on_retransmit_synack(const struct sock *sk, const struct request_sock *req)
{
	if (!retrans_enabled || !sk || !req)
		return;
	struct flow flow = {};

	flow.netns = sock_netns_btf(sk);
	if (!netns_wanted(flow.netns))
		return;
	flow_of_request_btf(req, &flow);
	/* A SYN-ACK is retransmitted for a request socket, which is in SYN_RECV. */
	retrans_record(&flow, TCP_SYN_RECV, RETRANS_KIND_SYNACK, 0);
}

#endif
