/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * One record per flow seen at the ingress hook, shared by the probes that keep state per incoming
 * flow there (handshake: the time of the flow's first SYN; dupack: its detector), as sockets.h
 * shares one record per connection among the state handlers. A new connection then costs one cold
 * cache line at this hook instead of one per probe: on this kind of machine each first touch of a
 * per-flow table larger than the L2 was 0.5-0.8 us a connection (BENCHMARKS.md), and the SYN's
 * line is still warm when the handshake's ACK and the state change reach it.
 *
 * A set-associative table (flowslots.h) of two 32-byte ways in each 64-byte set, tagged by the
 * packet tuple's hash (pkt_tuple_hash). A flow takes a free way, else the way of the flow seen
 * longest ago. A SYN takes only a way that is free, holds a flow still in its handshake, or holds
 * one idle for a second: a SYN flood must not push established flows out of dupack's detector (its
 * SYNs push out each other, as unanswered SYNs age out in an LRU). A way is free again once no
 * probe keeps anything in it: handshake frees a way whose handshake it ends unless dupack has
 * started its detector there.
 */
#ifndef TCPINSPECT_INGRESSFLOWS_H
#define TCPINSPECT_INGRESSFLOWS_H

#include "probe.h"
#include "flowslots.h"

#define INGRESS_FLOW_SET_BITS 15 /* 32,768 sets of 2 ways: 65,536 flows in 2 MiB */

struct ingress_flow {
	__u64 tag;         /* the packet tuple's hash; 0: free */
	__u64 syn_ns;      /* handshake: clock at the flow's first SYN; 0: no handshake pending */
	__u32 used;        /* jiffies (low 32 bits) when the record was taken or started again, or dupack last
			    * judged a segment of the flow */
	__u32 next_seq;    /* dupack: highest sequence number the peer has sent up to, plus one;
			    * before its detector starts, handshake's: the SYN's sequence number plus one */
	__u32 last_ack;    /* dupack: the peer's last acknowledgement number */
	__u16 last_window; /* dupack: the peer's last window */
	__u8 detector;     /* dupack: 1 once its detector is started (a segment after the SYN) */
	__u8 pad;
};

struct ingress_flow_set {
	struct ingress_flow way[2];
};

_Static_assert(sizeof(struct ingress_flow_set) == 64, "one set per 64-byte cache line");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << INGRESS_FLOW_SET_BITS);
	__type(key, __u32);
	__type(value, struct ingress_flow_set);
} shared_ingress_flows SEC(".maps");

static __always_inline struct ingress_flow_set *ingress_flow_set(__u64 tag)
{
	__u32 index = flowslot_set(tag, INGRESS_FLOW_SET_BITS);

	return bpf_map_lookup_elem(&shared_ingress_flows, &index);
}

/* The way holding tag, or NULL. */
static __always_inline struct ingress_flow *ingress_flow_find(struct ingress_flow_set *set, __u64 tag)
{
	if (set->way[0].tag == tag)
		return &set->way[0];
	if (set->way[1].tag == tag)
		return &set->way[1];
	return NULL;
}

/* Whether a SYN may take this way: free, a flow still in its handshake, or one idle for a second. */
static __always_inline bool ingress_flow_yields_to_syn(const struct ingress_flow *w, __u32 now)
{
	return !w->tag || !w->detector || now - w->used >= jiffies_per_second();
}

/*
 * The way a flow not in the set takes (its tag set, every other field cleared, used now), or NULL
 * when it is a SYN and no way yields to it. *active is set when the way held a flow whose detector
 * ran and was seen within the last second: a flow pushed out while still busy.
 */
static __always_inline struct ingress_flow *ingress_flow_take(struct ingress_flow_set *set, __u64 tag, bool syn,
							      __u32 now, bool *active)
{
	bool may0 = !syn || ingress_flow_yields_to_syn(&set->way[0], now);
	bool may1 = !syn || ingress_flow_yields_to_syn(&set->way[1], now);
	struct ingress_flow *w;

	/* A free way, else the one seen longest ago, of those it may take. */
	if (may0 && (!set->way[0].tag || !may1 || (set->way[1].tag && (__s32)(set->way[0].used - set->way[1].used) <= 0)))
		w = &set->way[0];
	else if (may1)
		w = &set->way[1];
	else
		return NULL;
	*active = w->tag && w->detector && now - w->used < jiffies_per_second();
	w->tag = tag;
	w->syn_ns = 0;
	w->used = now;
	w->next_seq = 0;
	w->last_ack = 0;
	w->last_window = 0;
	w->detector = 0;
	return w;
}

#endif
