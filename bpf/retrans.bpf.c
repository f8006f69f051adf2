// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Retransmissions: tcp:tcp_retransmit_skb (data, SYN, FIN) and tcp:tcp_retransmit_synack.
 * Totals per CPU, totals per flow, and one ring-buffer event each. Classic tracepoints whose
 * records are read with CO-RE, so the layout of the running kernel is used (the err field of
 * tcp_retransmit_skb exists only since 6.17 and is read only where it exists).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "retrans.h"
#include "sock_helpers.h"
#include "flowtable.h"
#include "events.h"

/* Namespace to report (inode); 0 reports every namespace. */
const volatile __u32 target_netns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

FLOW_TABLES(struct flow, struct retrans_counts, 16384);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Before 6.17 tcp_retransmit_skb shared the tcp_event_sk_skb record, which has no err. */
struct trace_event_raw_tcp_event_sk_skb___old {
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

static __always_inline void record(struct flow *flow, __u8 state, __u8 kind, __s32 err)
{
	struct retrans_counts zero = {};
	struct retrans_counts *counts = FLOW_ENTRY(flow, &zero);

	PERCPU_BUMP(stats, kind == RETRANS_KIND_SYNACK ? STAT_SYNACK : STAT_DATA);
	if (!counts)
		PERCPU_BUMP(stats, STAT_FLOWS_FULL);
	else {
		if (kind == RETRANS_KIND_SYNACK)
			__sync_fetch_and_add(&counts->synack, 1);
		else
			__sync_fetch_and_add(&counts->data, 1);
	}

	struct retrans_event *e = EVENT_RESERVE(events, sizeof(*e), stats, STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->flow = *flow;
	e->state = state;
	e->kind = kind;
	e->pad = 0;
	e->err = err;
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcpi_retrans_skb(void *ctx)
{
	struct flow flow = {};
	const struct sock *sk;
	__s32 err = 0;
	int state;

	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb)) {
		struct trace_event_raw_tcp_retransmit_skb *tp = ctx;

		sk = BPF_CORE_READ(tp, skaddr);
		state = BPF_CORE_READ(tp, state);
		flow.lport = BPF_CORE_READ(tp, sport);
		flow.rport = BPF_CORE_READ(tp, dport);
		flow_addrs(&flow, BPF_CORE_READ(tp, family), tp->saddr, tp->daddr, tp->saddr_v6, tp->daddr_v6);
		if (bpf_core_field_exists(tp->err))
			err = BPF_CORE_READ(tp, err);
	} else {
		struct trace_event_raw_tcp_event_sk_skb___old *tp = ctx;

		sk = BPF_CORE_READ(tp, skaddr);
		state = BPF_CORE_READ(tp, state);
		flow.lport = BPF_CORE_READ(tp, sport);
		flow.rport = BPF_CORE_READ(tp, dport);
		flow_addrs(&flow, BPF_CORE_READ(tp, family), tp->saddr, tp->daddr, tp->saddr_v6, tp->daddr_v6);
	}
	flow.netns = sock_netns(sk);
	if (target_netns && flow.netns != target_netns)
		return 0;
	record(&flow, state, RETRANS_KIND_DATA, err);
	return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_synack")
int tcpi_retrans_synack(struct trace_event_raw_tcp_retransmit_synack *tp)
{
	struct flow flow = {};
	const struct sock *sk = BPF_CORE_READ(tp, skaddr);

	flow.netns = sock_netns(sk);
	if (target_netns && flow.netns != target_netns)
		return 0;
	flow.lport = BPF_CORE_READ(tp, sport);
	flow.rport = BPF_CORE_READ(tp, dport);
	flow_addrs(&flow, BPF_CORE_READ(tp, family), tp->saddr, tp->daddr, tp->saddr_v6, tp->daddr_v6);
	/* A SYN-ACK is retransmitted for a request socket, which is in SYN_RECV. */
	record(&flow, 3 /* TCP_SYN_RECV */, RETRANS_KIND_SYNACK, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
