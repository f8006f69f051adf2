/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * zerowin: zero windows advertised by peers (ingress hook) and by this host (TC egress), per flow,
 * with how long the window stayed closed. A closure is a change from a non-zero to a zero window
 * (what the kernel counts as TCPToZeroWindowAdv for the windows it sends); every zero-window
 * segment is also counted. SYN and RST segments are not counted; a RST ends whatever closure its
 * flow still had. Observation only: packets always go on.
 *
 * A closed window keeps producing zero-window segments in its direction: the other side probes it
 * (with a backoff that never exceeds TCP_RTO_MAX, 120 s) and each probe is answered with a zero
 * window. So when no zero-window segment at all was seen for ZW_QUIET_SECONDS, no window can be
 * closed any longer, and a segment with an open window skips the table lookup: the common case
 * costs a read of jiffies and of one array entry. A closure whose flow vanished without a RST (a
 * socket aborted by timeout, a host gone) stops producing segments too: user space removes such
 * entries after ZW_QUIET_SECONDS of silence and counts them as expired (probe/zerowin).
 *
 * Shared with Java (probe/zerowin): struct zw_key, struct zw_closed, struct zw_counts, struct
 * zw_event, enum zw_direction, enum zw_stat.
 */
#ifndef TCPINSPECT_PROBE_ZEROWIN_H
#define TCPINSPECT_PROBE_ZEROWIN_H

#include "lib/probe.h"
#include "lib/packet.h"
#include "lib/maps.h"
#include "lib/events.h"
#include "lib/flowtable.h"

enum zw_direction {
	ZW_RECEIVED = 0, /* a peer advertised a zero window to us (ingress) */
	ZW_SENT = 1,     /* we advertised a zero window (TC egress) */
};

struct zw_key {
	struct pkt_tuple tuple;
	__u32 direction; /* enum zw_direction */
};

/* A window closed right now (map zerowin_closed). */
struct zw_closed {
	__u64 closed_ns;    /* bpf_ktime_get_ns() of the closure */
	__u64 last_zero;    /* jiffies of the flow's last zero-window segment in that direction */
};

/* Per flow and direction (the drained zerowin_flows tables); a window still closed is not in closed_ns yet. */
struct zw_counts {
	__u64 closures;  /* open -> zero transitions */
	__u64 closed_ns; /* total time spent closed (completed closures) */
};

struct zw_event {
	__u64 ts_ns;
	__u64 closed_ns;       /* on reopening: how long it stayed closed; 0 on closing */
	struct pkt_tuple tuple;
	__u8 direction;        /* enum zw_direction */
	__u8 reopened;         /* 0: the window just closed; 1: it just opened again */
	__u16 pad;
};

enum zw_stat {
	ZW_STAT_RECEIVED = 0,          /* closures advertised by peers */
	ZW_STAT_SENT = 1,              /* closures we advertised */
	ZW_STAT_SEGMENTS_RECEIVED = 2, /* segments carrying a zero window, from peers */
	ZW_STAT_SEGMENTS_SENT = 3,
	ZW_STAT_EVENTS_LOST = 4,
	/* closures not timed (no room in zerowin_closed: not in RECEIVED or SENT either), or closures
	 * and reopenings not under a flow (no room in the flow table) */
	ZW_STAT_FLOWS_FULL = 5,
	ZW_STAT_MAX = 6,
};

/* Longer than any gap between two zero-window segments of a window still closed (see above). */
#define ZW_QUIET_SECONDS 300

PROBE_SWITCH(zerowin);
SHARED_WITH_JAVA(struct zw_event, zw_event);
SHARED_WITH_JAVA(enum zw_direction, zw_direction);
SHARED_WITH_JAVA(enum zw_stat, zw_stat);
/* Bumped atomically (PERCPU_BUMP): the egress handlers also run from the cgroup egress hook, in the
 * sending process's context, which an ingress run in a softirq can interrupt on the same CPU. */
PERCPU_COUNTERS(zerowin_stats, ZW_STAT_MAX);
EVENT_RING(zerowin_events, 1 << 20);

/*
 * The windows closed right now, each with when it closed: an entry lives from a closure to its
 * reopening (or the flow's RST, or user space's expiry), so the table holds what is closed at once,
 * not every flow that ever closed a window. Not LRU: an evicted closure would be lost silently; a
 * full table is counted.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* windows closed at once; full is counted (flows_untracked); 65536 took 24 ms of a start */
	__type(key, struct zw_key);
	__type(value, struct zw_closed);
} zerowin_closed SEC(".maps");

/* Closures and closed time per flow and direction, drained by user space every second (flowtable.h). */
FLOW_TABLES(zerowin, struct zw_key, struct zw_counts, 16384);

/*
 * When the last zero-window segment was seen, any flow, any direction (jiffies). In a small array
 * map rather than a global: every segment reads it, and a small map sits in the kernel's direct
 * mapping, where a global's mmapable section does not (BENCHMARKS.md, where the cost goes).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} zerowin_last_zero SEC(".maps");

static __always_inline void zerowin_emit(const struct zw_key *key, __u64 now, __u64 closed_ns, __u8 reopened)
{
	struct zw_event *e = EVENT_RESERVE(zerowin_events, sizeof(*e), zerowin_stats, ZW_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = now;
	e->closed_ns = closed_ns;
	e->tuple = key->tuple;
	e->direction = key->direction;
	e->reopened = reopened;
	e->pad = 0;
	bpf_ringbuf_submit(e, events_wakeup_flag(sizeof(*e)));
}

/* Adds to the flow's counts; a flow the table has no room for is counted as untracked. */
static __always_inline void zerowin_count(const struct zw_key *key, __u64 closures, __u64 closed_ns)
{
	struct zw_counts zero = {};
	struct zw_counts *c = FLOW_ENTRY(zerowin, key, &zero);

	if (!c) {
		PERCPU_BUMP(zerowin_stats, ZW_STAT_FLOWS_FULL);
		return;
	}
	if (closures)
		__sync_fetch_and_add(&c->closures, closures);
	if (closed_ns)
		__sync_fetch_and_add(&c->closed_ns, closed_ns);
}

/*
 * Ends a closed window: returns how long it was closed, 0 when it was not closed. Whoever deletes
 * the entry ends the closure, so two CPUs seeing the reopening at once count it once.
 */
static __always_inline __u64 zerowin_reopen(const struct zw_key *key, __u64 now)
{
	struct zw_closed *closed = bpf_map_lookup_elem(&zerowin_closed, key);

	if (!closed)
		return 0;
	__u64 closed_at = closed->closed_ns;

	if (bpf_map_delete_elem(&zerowin_closed, key))
		return 0;
	__u64 closed_for = now > closed_at ? now - closed_at : 1;

	zerowin_count(key, 0, closed_for);
	return closed_for;
}

/*
 * A segment at the ingress hook (ZW_RECEIVED) or TC egress (ZW_SENT). The window compared is the
 * header's, unscaled: zero is zero at any scale.
 */
static __always_inline void zerowin_on_segment(struct pkt *p, enum zw_direction direction)
{
	if (!zerowin_enabled)
		return;
	__u8 flags = p->tcp.flags;

	if (flags & TCP_FLAG_SYN)
		return;
	bool reset = flags & TCP_FLAG_RST;

	if (!reset && !(flags & TCP_FLAG_ACK))
		return;
	struct tcphdr *th = pkt_tcp_header(p);

	if (!th)
		return;
	bool zero = !reset && th->window == 0;
	__u64 jiffies = bpf_jiffies64();
	__u32 key0 = 0;
	__u64 *last_zero = bpf_map_lookup_elem(&zerowin_last_zero, &key0);

	if (!last_zero)
		return;
	if (!zero) {
		/* Nothing can be closed when no zero window was seen for so long: no lookup. */
		if (jiffies - *last_zero > ZW_QUIET_SECONDS * jiffies_per_second() || !pkt_tuple(p))
			return;
		struct zw_key key = {.tuple = p->tuple, .direction = direction};

		if (!bpf_map_lookup_elem(&zerowin_closed, &key) && !reset)
			return;
		__u64 now = bpf_ktime_get_ns();

		if (reset) {
			/* A reset ends the flow: a window still closed in either direction is no longer
			 * waited for (it counts as closed until now, without a reopening event). */
			zerowin_reopen(&key, now);
			key.direction = direction == ZW_RECEIVED ? ZW_SENT : ZW_RECEIVED;
			zerowin_reopen(&key, now);
			return;
		}
		__u64 closed_for = zerowin_reopen(&key, now);

		if (closed_for)
			zerowin_emit(&key, now, closed_for, 1);
		return;
	}
	if (*last_zero != jiffies)
		*last_zero = jiffies;
	PERCPU_BUMP(zerowin_stats, direction == ZW_RECEIVED ? ZW_STAT_SEGMENTS_RECEIVED : ZW_STAT_SEGMENTS_SENT);
	if (!pkt_tuple(p))
		return;
	struct zw_key key = {.tuple = p->tuple, .direction = direction};
	struct zw_closed *closed = bpf_map_lookup_elem(&zerowin_closed, &key);

	if (closed) {
		closed->last_zero = jiffies; /* closed already: a window probe's answer, or a repeated ACK */
		return;
	}
	__u64 now = bpf_ktime_get_ns();
	struct zw_closed fresh = {.closed_ns = now, .last_zero = jiffies};

	/* Whoever inserts the entry makes the closure. */
	if (bpf_map_update_elem(&zerowin_closed, &key, &fresh, BPF_NOEXIST)) {
		if (!bpf_map_lookup_elem(&zerowin_closed, &key))
			PERCPU_BUMP(zerowin_stats, ZW_STAT_FLOWS_FULL); /* no room: this closure is not counted */
		return;
	}
	PERCPU_BUMP(zerowin_stats, direction == ZW_RECEIVED ? ZW_STAT_RECEIVED : ZW_STAT_SENT);
	zerowin_count(&key, 1, 0);
	zerowin_emit(&key, now, 0, 0);
}

#endif
