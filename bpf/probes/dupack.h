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
#include "lib/ingressflows.h"

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
 * Detector state of every flow seen, in the ingress hook's per-flow records (lib/ingressflows.h,
 * shared with handshake): a gateway sees thousands of new flows a second and a packet hook never
 * learns for sure when one is gone, so old flows age out as new ones take their way; a flow whose
 * peer sent a FIN or RST gives its way first. Taking over a way costs
 * at most that flow's next segment's comparison (the segment starts its state again); it loses no
 * count. A way taken over within a second of its last segment is counted
 * (DUPACK_STAT_DETECTOR_EVICTED): more flows were active at once than the table holds.
 */

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
	bpf_ringbuf_submit(e, events_wakeup_flag(sizeof(*e)));
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
	__u32 now = bpf_jiffies64();
	struct ingress_flow *s = ingress_flow_find(tag, flags & TCP_FLAG_SYN);

	if (!s || !s->detector) {
		/* A flow's state starts after its handshake: a SYN flood must not push real flows out. */
		if (flags & TCP_FLAG_SYN)
			return;
		bool taken = !s;

		if (!s) {
			bool active = false, raced = false;

			/* Taken by another CPU's new flow at the same instant (raced): the next segment tries again. */
			s = ingress_flow_take(tag, false, now, 0, 0, &active, &raced);
			if (!s)
				return;
			if (active)
				PERCPU_ADD(dupack_stats, DUPACK_STAT_DETECTOR_EVICTED);
		}
		/* The first segment after the SYN (a way handshake took for it keeps its SYN's time). */
		s->detector = 1;
		s->next_seq = end;
		s->last_ack = ack;
		s->last_window = window;
		s->used = now;
		/* A flow first seen after its handshake may be one whose record went at its end, seen again
		 * for its last ACK: its record is spare until a second segment shows it alive. */
		s->ended = (flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) ? INGRESS_FLOW_ENDED
			   : taken ? INGRESS_FLOW_UNCONFIRMED : INGRESS_FLOW_LIVE;
		return;
	}
	if ((flags & TCP_FLAG_SYN) && (__s32)(end - s->next_seq) > 0) {
		/* A SYN ahead of all the flow sent: the tuple used again. Wireshark starts a reused port's
		 * analysis afresh (when the SYN's number differs from the first one's); the detector starts
		 * again at the next segment. A SYN behind it (retransmitted or duplicated) is judged below,
		 * as any segment, and is never a dup ACK. */
		s->detector = 0;
		s->ended = INGRESS_FLOW_LIVE;
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
	/* The flow's end: its record may give way without moving to the old table (ingressflows.h). A
	 * half-closed flow goes on being judged while its record stays. A second segment confirms a flow
	 * first seen after its handshake; any SYN (a tuple used again, whose ISN fell behind) a live one. */
	if (flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) {
		if (s->ended != INGRESS_FLOW_ENDED)
			s->ended = INGRESS_FLOW_ENDED;
	} else if (s->ended == INGRESS_FLOW_UNCONFIRMED || ((flags & TCP_FLAG_SYN) && s->ended)) {
		s->ended = INGRESS_FLOW_LIVE;
	}
}

#endif
