// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Smoothed RTT from tcp:tcp_probe (which fires as established connections process ACKs): a
 * log-linear histogram of the samples, and per remote address the last, smallest and largest
 * srtt with the congestion window. Events are sampled: one per remote address per second.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "rtt.h"
#include "sock_helpers.h"
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rtt_key);
	__type(value, struct rtt_remote);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tracepoint/tcp/tcp_probe")
int tcpi_rtt_probe(struct trace_event_raw_tcp_probe *tp)
{
	__u32 srtt = BPF_CORE_READ(tp, srtt);

	if (srtt == 0)
		return 0; /* no RTT sample yet on this connection */
	struct flow flow = {};
	__u16 rfamily = 0;

	if (bpf_core_field_exists(tp->skaddr)) {
		const struct sock *sk = BPF_CORE_READ(tp, skaddr);

		flow.netns = sock_netns(sk);
	} else {
		const struct sk_buff *skb = BPF_CORE_READ(tp, skbaddr);

		flow.netns = skb_netns(skb);
	}
	if (target_netns && flow.netns != target_netns)
		return 0;
	flow_from_sockaddr(tp->saddr, flow.laddr, &flow.lport, &flow.family);
	flow_from_sockaddr(tp->daddr, flow.raddr, &flow.rport, &rfamily);

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
	__u32 cwnd = BPF_CORE_READ(tp, snd_cwnd);
	__u64 now = bpf_ktime_get_ns();
	struct rtt_remote fresh = {.min_srtt_us = srtt, .max_srtt_us = srtt};
	struct rtt_remote *r = lookup_or_init(&flows, &key, &fresh);

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
	if (now - r->last_event_ns < EVENT_INTERVAL_NS)
		return 0;
	r->last_event_ns = now;

	struct rtt_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		PERCPU_BUMP(stats, RTT_STAT_EVENTS_LOST);
		return 0;
	}
	e->ts_ns = now;
	e->flow = flow;
	e->srtt_us = srtt;
	e->cwnd = cwnd;
	e->snd_wnd = BPF_CORE_READ(tp, snd_wnd);
	e->rcv_wnd = BPF_CORE_READ(tp, rcv_wnd);
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
