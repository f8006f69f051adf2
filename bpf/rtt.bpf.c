// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Smoothed RTT from tcp:tcp_probe (which fires as established connections receive segments): a
 * log-linear histogram of the samples, and per remote address the last, smallest and largest
 * srtt with the congestion window. Events are sampled: one per remote address per second.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "rtt.h"
#include "sock_helpers.h"
#include "flowtable.h"
#include "events.h"

#define EVENT_INTERVAL_NS 1000000000ULL

const volatile __u32 target_netns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RTT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist_summary);
} summary SEC(".maps");

FLOW_TABLES(struct rtt_key, struct rtt_remote, 16384);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/*
 * BTF-typed: tcp_probe fires for every segment an established connection receives, so the classic
 * tracepoint's record (two sockaddrs and a dozen fields, built before the program runs) would be
 * paid on the busiest path; here the program reads only what it keeps, with plain loads.
 */
SEC("tp_btf/tcp_probe")
int BPF_PROG(tcpi_rtt_probe, struct sock *sk, const struct sk_buff *skb)
{
	if (target_netns && sock_netns_btf(sk) != target_netns)
		return 0;
	struct flow flow = {};
	const struct tcp_sock *tcp = flow_of_sock_btf(sk, &flow);

	if (!tcp)
		return 0;
	__u32 srtt = tcp->srtt_us >> 3;

	if (srtt == 0)
		return 0; /* no RTT sample yet on this connection */
	PERCPU_BUMP(stats, RTT_STAT_SAMPLES);
	__u32 bucket = hist_bucket(srtt);
	__u64 *n = bpf_map_lookup_elem(&hist, &bucket);

	if (n)
		(*n)++;
	__u32 zero = 0;
	struct hist_summary *s = bpf_map_lookup_elem(&summary, &zero);

	if (s) {
		if (s->count == 0 || srtt < s->min)
			s->min = srtt;
		if (srtt > s->max)
			s->max = srtt;
		s->count++;
		s->sum += srtt;
	}

	struct rtt_key key = {.netns = flow.netns, .family = flow.family};

	__builtin_memcpy(key.raddr, flow.raddr, 16);
	__u32 cwnd = tcp->snd_cwnd;
	struct rtt_remote fresh = {.min_srtt_us = srtt, .max_srtt_us = srtt};
	struct rtt_remote *r = FLOW_ENTRY(&key, &fresh);

	if (!r) {
		PERCPU_BUMP(stats, RTT_STAT_REMOTES_FULL);
		return 0;
	}
	__sync_fetch_and_add(&r->samples, 1);
	r->last_srtt_us = srtt;
	r->last_cwnd = cwnd;
	if (srtt < r->min_srtt_us)
		r->min_srtt_us = srtt;
	if (srtt > r->max_srtt_us)
		r->max_srtt_us = srtt;
	if (!emit_events)
		return 0;
	__u64 now = bpf_ktime_get_ns();

	if (now - r->last_event_ns < EVENT_INTERVAL_NS)
		return 0;
	r->last_event_ns = now;

	struct rtt_event *e = EVENT_RESERVE(events, sizeof(*e), stats, RTT_STAT_EVENTS_LOST);

	if (!e)
		return 0;
	e->ts_ns = now;
	e->flow = flow;
	e->srtt_us = srtt;
	e->cwnd = cwnd;
	e->snd_wnd = tcp->snd_wnd;
	e->rcv_wnd = tcp->rcv_wnd;
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
