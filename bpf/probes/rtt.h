/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * rtt: smoothed RTT from tcp:tcp_probe, which fires for every segment an established connection
 * receives: a log-linear histogram of the samples, and per remote address the samples, the last,
 * smallest and largest srtt and the congestion window. Events are sampled: at most one per remote
 * address per second.
 *
 * tcp_probe is on the busiest path there is, so the handler leaves before any other work when the
 * connection has no RTT yet, builds no flow unless an event is made, and keeps its per-remote
 * aggregates per CPU: connections to one remote run on every CPU, and a shared entry written at
 * every segment would bounce between them.
 *
 * Shared with Java (probe/rtt): struct rtt_key, struct rtt_remote, struct rtt_event, enum
 * rtt_stat, struct hist_summary.
 */
#ifndef TCPINSPECT_PROBE_RTT_H
#define TCPINSPECT_PROBE_RTT_H

#include "lib/probe.h"
#include "lib/flow.h"
#include "lib/maps.h"
#include "lib/events.h"
#include "lib/hist.h"
#include "lib/slottable.h"

/* Per remote address (the drained rtt_remotes tables). */
struct rtt_key {
	__u32 netns;
	__u16 family;
	__u16 pad;
	__u8 raddr[16];
};

/* One CPU's aggregate for a remote; user space adds the CPUs' copies up. */
struct rtt_remote {
	__u64 samples;
	__u64 last_jiffies;  /* when this CPU's last sample was taken: the newest copy's last values win */
	__u32 last_srtt_us;
	__u32 min_srtt_us;
	__u32 max_srtt_us;
	__u32 last_cwnd;
};

/* At most one per remote address per second. */
struct rtt_event {
	__u64 ts_ns;
	struct flow flow;
	__u32 srtt_us;
	__u32 cwnd;
	__u32 snd_wnd;
	__u32 rcv_wnd;
};

enum rtt_stat {
	RTT_STAT_SAMPLES = 0,
	RTT_STAT_EVENTS_LOST = 1,
	RTT_STAT_REMOTES_FULL = 2,
	RTT_STAT_MAX = 3,
};

#define RTT_EVENT_INTERVAL_NS 1000000000ULL
#define RTT_SAMPLED_SET_BITS 12 /* 4,096 sets of 4 ways: when each remote's last event was made */

PROBE_SWITCH(rtt);
SHARED_WITH_JAVA(struct rtt_event, rtt_event);
SHARED_WITH_JAVA(enum rtt_stat, rtt_stat);
PERCPU_COUNTERS(rtt_stats, RTT_STAT_MAX);
EVENT_RING(rtt_events, 1 << 20);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} rtt_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist_summary);
} rtt_summary SEC(".maps");

/* Per remote address and CPU, drained by user space every second: 2 x 4,096 ways per CPU. */
SLOT_TABLES(rtt_remotes, struct rtt_key, struct rtt_remote, 10);

/* When each remote's last event was made (tag: the key's hash, stamp: the time); only with events. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << RTT_SAMPLED_SET_BITS);
	__type(key, __u32);
	__type(value, struct slot_set);
} rtt_sampled SEC(".maps");

/* Whether this remote is due an event (one a second), marking it sampled now if so. */
static __always_inline bool rtt_event_due(const struct rtt_key *key, __u64 now)
{
	struct rtt_key k FLOWSLOT_KEY_ALIGNED = *key;
	__u64 tag = flowslot_hash(&k, sizeof(k) / 8);
	__u32 index = flowslot_set(tag, RTT_SAMPLED_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&rtt_sampled, &index);

	if (!set)
		return false;
	struct slot_way *w = slot_take(set, tag);

	if (w->tag == tag && now - w->stamp < RTT_EVENT_INTERVAL_NS)
		return false;
	w->tag = tag;
	w->stamp = now;
	return true;
}

/* tp_btf/tcp_probe: a segment received by an established connection. */
static __always_inline void rtt_on_tcp_probe(const struct sock *sk)
{
	if (!rtt_enabled)
		return;
	const struct tcp_sock *tcp = tcp_sock_of(sk);

	if (!tcp)
		return;
	__u32 srtt = tcp->srtt_us >> 3;

	if (srtt == 0)
		return; /* no RTT sample yet on this connection */
	const struct sock_common *c = &sk->__sk_common;
	struct rtt_key key FLOWSLOT_KEY_ALIGNED = {.netns = c->skc_net.net->ns.inum, .family = c->skc_family};

	if (!netns_wanted(key.netns))
		return;
	/* Plain increments: tcp_probe never runs nested on a CPU (the kernel skips such a run, counted). */
	PERCPU_ADD(rtt_stats, RTT_STAT_SAMPLES);
	__u32 bucket = hist_bucket(srtt);
	__u64 *n = bpf_map_lookup_elem(&rtt_hist, &bucket);

	if (n)
		(*n)++;
	__u32 zero = 0;
	struct hist_summary *s = bpf_map_lookup_elem(&rtt_summary, &zero);

	if (s) {
		if (s->count == 0 || srtt < s->min)
			s->min = srtt;
		if (srtt > s->max)
			s->max = srtt;
		s->count++;
		s->sum += srtt;
	}

	if (key.family == FLOW_AF_INET6 && ipv6_is_v4_mapped(c->skc_v6_daddr.in6_u.u6_addr32)) {
		key.family = FLOW_AF_INET;
		__builtin_memcpy(key.raddr, &c->skc_v6_daddr.in6_u.u6_addr32[3], 4);
	} else if (key.family == FLOW_AF_INET) {
		__builtin_memcpy(key.raddr, &c->skc_daddr, 4);
	} else {
		__builtin_memcpy(key.raddr, &c->skc_v6_daddr, 16);
	}
	__u32 cwnd = tcp->snd_cwnd;
	struct rtt_remote *r = rtt_remotes_slot(&key);

	if (!r) {
		PERCPU_ADD(rtt_stats, RTT_STAT_REMOTES_FULL);
		return;
	}
	/* This CPU's copy (zero when new): tcp_probe never runs nested on a CPU (the kernel skips such a
	 * run, counted), so plain updates are safe. */
	if (r->samples == 0 || srtt < r->min_srtt_us)
		r->min_srtt_us = srtt;
	if (srtt > r->max_srtt_us)
		r->max_srtt_us = srtt;
	r->samples++;
	r->last_jiffies = bpf_jiffies64();
	r->last_srtt_us = srtt;
	r->last_cwnd = cwnd;
	if (!emit_events)
		return;
	__u64 now = bpf_ktime_get_ns();

	if (!rtt_event_due(&key, now))
		return;
	struct rtt_event *e = EVENT_RESERVE(rtt_events, sizeof(*e), rtt_stats, RTT_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = now;
	__builtin_memset(&e->flow, 0, sizeof(e->flow));
	e->flow.netns = key.netns;
	flow_of_sock_btf(sk, &e->flow);
	e->srtt_us = srtt;
	e->cwnd = cwnd;
	e->snd_wnd = tcp->snd_wnd;
	e->rcv_wnd = tcp->rcv_wnd;
	bpf_ringbuf_submit(e, events_wakeup_flag(sizeof(*e)));
}

#endif
