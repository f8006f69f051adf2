/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * dupack: duplicate ACKs received, per flow, at the ingress hook. A segment is a duplicate ACK
 * when, as in Wireshark's analysis, it carries no data and no SYN, FIN or RST, its window is
 * non-zero and unchanged, its ACK number is unchanged, and its sequence number is the one expected
 * next. Observation only: the packet always goes on.
 *
 * Shared with Java (probe/dupack): struct dupack_event, enum dupack_stat; per-flow counts are
 * struct pkt_tuple -> __u64.
 */
#ifndef TCPINSPECT_PROBE_DUPACK_H
#define TCPINSPECT_PROBE_DUPACK_H

#include "lib/probe.h"
#include "lib/packet.h"
#include "lib/maps.h"
#include "lib/events.h"
#include "lib/flowtable.h"
#include "lib/flowslots.h"

struct dupack_event {
	__u64 ts_ns;
	struct pkt_tuple tuple;
	__u32 ack;      /* the repeated acknowledgement number */
	__u16 window;
	__u16 pad;
};

enum dupack_stat {
	DUPACK_STAT_TOTAL = 0,
	DUPACK_STAT_FLOWS_FULL = 1, /* dup ACKs the per-flow table had no room for (still in the total) */
	DUPACK_STAT_EVENTS_LOST = 2,
	DUPACK_STAT_DETECTOR_EVICTED = 3, /* flows pushed out of the detector within a second of their last segment */
	DUPACK_STAT_MAX = 4,
};

PROBE_SWITCH(dupack);
SHARED_WITH_JAVA(struct dupack_event, dupack_event);
SHARED_WITH_JAVA(enum dupack_stat, dupack_stat);
PERCPU_COUNTERS(dupack_stats, DUPACK_STAT_MAX);
EVENT_RING(dupack_events, 1 << 20);

/*
 * Detector state of every flow seen, in a set-associative table (flowslots.h): a gateway sees
 * thousands of new flows a second and a packet hook never learns when one is gone, so old flows
 * age out as new ones take their way. Taking over a way costs at most that flow's next segment's
 * comparison (the segment starts its state again); it loses no count. A way taken over within a
 * second of its last segment is counted (DUPACK_STAT_DETECTOR_EVICTED): more flows were active
 * at once than the table holds.
 */
#define DUPACK_SET_BITS 15 /* 32,768 sets of 2 ways: 65,536 flows in 2 MiB */

struct dupack_way {
	__u64 tag;        /* the packet tuple's hash; 0: free */
	__u32 next_seq;   /* highest sequence number the peer has sent up to, plus one */
	__u32 last_ack;
	__u32 used;       /* jiffies (low 32 bits) of the flow's last segment */
	__u16 last_window;
	__u16 pad;
};

struct dupack_set {
	struct dupack_way way[2];
	__u8 pad[16];     /* one set per 64-byte cache line */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << DUPACK_SET_BITS);
	__type(key, __u32);
	__type(value, struct dupack_set);
} dupack_detector SEC(".maps");

/* Dup ACKs per flow, only for flows that had one, drained by user space every second (flowtable.h). */
FLOW_TABLES(dupack, struct pkt_tuple, __u64, 16384);

static __always_inline void dupack_count(struct pkt *p, __u32 ack, __u16 window)
{
	__u64 zero = 0;
	__u64 *n = FLOW_ENTRY(dupack, &p->tuple, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		PERCPU_ADD(dupack_stats, DUPACK_STAT_FLOWS_FULL);
	PERCPU_ADD(dupack_stats, DUPACK_STAT_TOTAL);
	struct dupack_event *e = EVENT_RESERVE(dupack_events, sizeof(*e), dupack_stats, DUPACK_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->tuple = p->tuple;
	e->ack = ack;
	e->window = window;
	e->pad = 0;
	bpf_ringbuf_submit(e, events_wakeup_flag(&dupack_events));
}

/* A TCP segment at the ingress hook. */
static __always_inline void dupack_on_ingress(struct pkt *p)
{
	if (!dupack_enabled)
		return;
	__u8 flags = p->tcp.flags;
	struct tcphdr *th = pkt_tcp_header(p);
	__u64 tag = pkt_tuple_hash(p);

	if (!th || !tag)
		return;
	__u32 seq = bpf_ntohl(th->seq);
	__u32 ack = bpf_ntohl(th->ack_seq);
	__u16 window = bpf_ntohs(th->window);
	__u32 end = seq + p->tcp.payload_len + ((flags & TCP_FLAG_SYN) ? 1 : 0) + ((flags & TCP_FLAG_FIN) ? 1 : 0);
	__u32 set_index = flowslot_set(tag, DUPACK_SET_BITS);
	struct dupack_set *set = bpf_map_lookup_elem(&dupack_detector, &set_index);

	if (!set)
		return;
	__u32 now = bpf_jiffies64();
	struct dupack_way *s;

	if (set->way[0].tag == tag) {
		s = &set->way[0];
	} else if (set->way[1].tag == tag) {
		s = &set->way[1];
	} else {
		/* A flow's state starts after its handshake: a SYN flood must not push real flows out. */
		if (flags & TCP_FLAG_SYN)
			return;
		/* A free way, else the one whose flow was seen longest ago. */
		s = !set->way[0].tag || (set->way[1].tag && (__s32)(set->way[0].used - set->way[1].used) < 0)
			    ? &set->way[0]
			    : &set->way[1];
		if (s->tag && now - s->used < jiffies_per_second())
			PERCPU_ADD(dupack_stats, DUPACK_STAT_DETECTOR_EVICTED);
		s->tag = tag;
		s->next_seq = end;
		s->last_ack = ack;
		s->last_window = window;
		s->used = now;
		return;
	}
	if (s->used != now)
		s->used = now; /* no write, so no dirty line, while the tick stays the same */
	if ((flags & TCP_FLAG_ACK) && p->tcp.payload_len == 0 &&
	    !(flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) && window != 0 &&
	    window == s->last_window && seq == s->next_seq && ack == s->last_ack)
		dupack_count(p, ack, window);
	/* Sequence space wraps: "after" is a signed comparison of the difference. */
	if ((__s32)(end - s->next_seq) > 0)
		s->next_seq = end;
	if (flags & TCP_FLAG_ACK)
		s->last_ack = ack;
	s->last_window = window;
}

#endif
