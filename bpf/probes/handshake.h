/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * handshake: handshake latency. Passive (accepted here): from the first SYN of a connection seen
 * at the ingress hook of a watched interface (so a lost and retried SYN counts from the first one)
 * to ESTABLISHED. Active (made from here): from SYN_SENT to ESTABLISHED. Log-linear histograms
 * (hist.h) overall and per port, in microseconds.
 *
 * Shared with Java (probe/handshake): struct hs_port_key, struct hs_event, enum hs_kind,
 * enum hs_stat, struct hist_summary.
 */
#ifndef TCPINSPECT_PROBE_HANDSHAKE_H
#define TCPINSPECT_PROBE_HANDSHAKE_H

#include "lib/probe.h"
#include "lib/flow.h"
#include "lib/maps.h"
#include "lib/events.h"
#include "lib/hist.h"
#include "lib/packet.h"
#include "lib/slottable.h"
#include "lib/ingressflows.h"
#include "lib/sockets.h"

enum hs_kind {
	HS_PASSIVE = 0, /* first SYN seen on a watched interface -> ESTABLISHED */
	HS_ACTIVE = 1,  /* SYN_SENT -> ESTABLISHED */
	HS_KINDS = 2,
};

/* Per port, kind and bucket (the drained handshake_ports tables): accepted connections by local port, outgoing ones by remote port. */
struct hs_port_key {
	__u16 port; /* local for HS_PASSIVE, remote for HS_ACTIVE */
	__u8 kind;
	__u8 pad;
	__u32 bucket;
};

struct hs_event {
	__u64 ts_ns;
	__u64 latency_us;
	struct flow flow;
	__u32 kind; /* enum hs_kind */
};

enum hs_stat {
	HS_STAT_PASSIVE_UNMATCHED = 0, /* accepted with no SYN seen on a watched interface */
	HS_STAT_EVENTS_LOST = 1,
	HS_STAT_PORTS_FULL = 2,
	HS_STAT_SYNS_RACED = 3, /* first SYNs left without a record: another CPU's new flow took its way at the same instant */
	HS_STAT_MAX = 4,
};

PROBE_SWITCH(handshake);
SHARED_WITH_JAVA(struct hs_event, hs_event);
SHARED_WITH_JAVA(enum hs_kind, hs_kind);
SHARED_WITH_JAVA(enum hs_stat, hs_stat);
PERCPU_COUNTERS(handshake_stats, HS_STAT_MAX);
EVENT_RING(handshake_events, 1 << 20);

/*
 * The first SYN's time of each incoming connection is kept in the ingress hook's per-flow records
 * (lib/ingressflows.h, shared with dupack): one inlined array lookup and no lock per SYN and per
 * handshake, and the line dupack's detector takes at the handshake's ACK is the SYN's. When a set
 * is full, SYNs push out each other's records (a flood's unanswered SYNs age out as in an LRU) and
 * dupack's flows push out the oldest record; a SYN finds no room only when both records of its young
 * set are flows dupack saw within the second and the old set of the older one has no room for it
 * that a SYN may take (lib/ingressflows.h). A handshake whose SYN found no record at its end is
 * counted as unmatched; a SYN retried after its first one's record went is timed from the retry.
 * A SYN this host answers with a RST (a closed port) gives its record back at once
 * (handshake_on_egress).
 */

/* Buckets per kind, one set per twin copy (index kind * HIST_BUCKETS + bucket + copy * HS_KINDS * HIST_BUCKETS). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * HS_KINDS * HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} handshake_hist SEC(".maps");

/*
 * Per kind and per twin copy (index kind + HS_KINDS * second): the copies can interrupt each other
 * on a CPU, and min and max cannot be updated atomically; user space merges them as it merges CPUs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_KINDS * 2);
	__type(key, __u32);
	__type(value, struct hist_summary);
} handshake_summary SEC(".maps");

/* Handshakes per port, kind and bucket and CPU, drained by user space every second (slottable.h). */
SLOT_TABLES(handshake_ports, struct hs_port_key, __u64, 9);

/*
 * A SYN at the ingress hook: a connection attempt's first SYN starts the clock (a retried SYN, with
 * the same sequence number, must not restart it).
 */
static __always_inline void handshake_on_ingress(struct pkt *p)
{
	if (!handshake_enabled || (p->tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return;
	__u64 tag = pkt_tuple_hash(p);
	struct tcphdr *th = pkt_tcp_header(p);

	if (!tag || !th)
		return;
	__u32 isn_next = bpf_ntohl(th->seq) + 1;
	struct ingress_flow *w = ingress_flow_find(tag, true);

	if (!w) {
		bool active, raced;

		/* A new record is written whole, with the SYN's time and sequence number. None: both ways
		 * hold established flows seen within the second, or another CPU took the way at the same
		 * instant (counted apart); either way the handshake counts as unmatched. */
		if (!ingress_flow_take(tag, true, bpf_jiffies64(), bpf_ktime_get_ns(), isn_next, &active, &raced) && raced)
			PERCPU_BUMP(handshake_stats, HS_STAT_SYNS_RACED);
		return;
	}
	if (w->detector) {
		/* A flow dupack follows. A SYN ahead of all it has seen is the tuple used again: the detector
		 * starts again after this handshake (dupack does the same), and the record is the new
		 * connection's. One behind it (a duplicated SYN, or a new ISN that happens to fall behind) leaves
		 * the detector be and starts the clock only if none runs. */
		if ((__s32)(isn_next - w->next_seq) <= 0) {
			if (!w->syn_ns)
				w->syn_ns = bpf_ktime_get_ns();
			return;
		}
		w->detector = 0;
		w->ended = INGRESS_FLOW_LIVE;
		w->syn_ns = 0;
		w->used = bpf_jiffies64();
	}
	/* A retried SYN carries its first's sequence number; another one is a new attempt on the tuple
	 * (after one that never completed), whose clock starts again. Until dupack starts its detector,
	 * next_seq is free to hold it. */
	if (!w->syn_ns || w->next_seq != isn_next)
		w->syn_ns = bpf_ktime_get_ns();
	w->next_seq = isn_next;
}

/*
 * The flow's handshake is over: its SYN's time (syn_ns, as read) goes, and the record (found by tag)
 * with it unless dupack keeps it. Both only while they are this flow's: another CPU's new flow may
 * have just taken the way (ingressflows.h), and its record must stay whole.
 */
static __always_inline void handshake_forget(struct ingress_flow *w, __u64 tag, __u64 syn_ns)
{
	if (__sync_val_compare_and_swap(&w->syn_ns, syn_ns, 0) != syn_ns)
		return;
	if (!w->detector)
		__sync_val_compare_and_swap(&w->tag, tag, 0);
}

/*
 * A RST this host sends while the flow's handshake is pending: its SYN found no listener (a closed
 * port), or the listener refused it. That handshake will never complete, so its record goes now
 * instead of waiting to be pushed out by other SYNs: a scan or a flood of SYNs to closed ports then
 * takes no records from handshakes still under way (a lost SYN-ACK holds one for a second or more,
 * and a record pushed out meanwhile would time the handshake from its retried SYN).
 */
static __always_inline void handshake_on_egress(struct pkt *p)
{
	if (!handshake_enabled || !(p->tcp.flags & TCP_FLAG_RST))
		return;
	__u64 tag = pkt_tuple_hash(p);

	if (!tag)
		return;
	struct ingress_flow *w = ingress_flow_find(tag, false);

	__u64 t0 = w ? w->syn_ns : 0;

	if (t0)
		handshake_forget(w, tag, t0);
}

/* Counts a handshake in this twin copy's own buckets and summary, the per-port table atomically. */
static __always_inline void handshake_record(struct state_change *c, const struct flow *flow, enum hs_kind kind,
					     __u64 latency_ns)
{
	__u64 us = latency_ns / 1000;
	__u32 bucket = hist_bucket_outlined(us);

	PERCPU_ADD(handshake_hist, kind * HIST_BUCKETS + bucket + (c->second ? HS_KINDS * HIST_BUCKETS : 0));
	__u32 summary_slot = kind + (c->second ? HS_KINDS : 0);
	struct hist_summary *s = bpf_map_lookup_elem(&handshake_summary, &summary_slot);

	if (s) {
		if (s->count == 0 || us < s->min)
			s->min = us;
		if (us > s->max)
			s->max = us;
		s->count++;
		s->sum += us;
	}
	/* Accepted connections by the local port (the service), outgoing ones by the remote port (the
	 * upstream's): an outgoing connection's local port is ephemeral and would fill the table. */
	struct hs_port_key pk FLOWSLOT_KEY_ALIGNED = {.port = kind == HS_PASSIVE ? flow->lport : flow->rport,
						      .kind = kind, .bucket = bucket};
	__u64 *pn = handshake_ports_slot(&pk);

	if (pn)
		__sync_fetch_and_add(pn, 1);
	else
		PERCPU_BUMP(handshake_stats, HS_STAT_PORTS_FULL);
	struct hs_event *e = EVENT_RESERVE(handshake_events, sizeof(*e), handshake_stats, HS_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = state_now(c);
	e->flow = *flow;
	e->kind = kind;
	e->latency_us = us;
	bpf_ringbuf_submit(e, events_wakeup_flag(sizeof(*e)));
}

/*
 * The kernel's own clock reading of the segment that completed the handshake (tcp_mstamp, refreshed
 * in microseconds of the same CLOCK_MONOTONIC as bpf_ktime_get_ns before the state changes), in
 * nanoseconds: the end of a handshake costs no clock read of ours.
 */
static __always_inline __u64 handshake_end_ns(const struct tcp_sock *tcp)
{
	return tcp ? tcp->tcp_mstamp * 1000 : bpf_ktime_get_ns();
}

/* The state changes that end a handshake (the shared handler took the record at SYN_SENT). */
static __always_inline void handshake_on_state(struct state_change *c)
{
	if (!handshake_enabled || c->newstate != TCP_ESTABLISHED)
		return;
	struct flow flow = {.netns = c->netns};

	if (c->oldstate == TCP_SYN_SENT) {
		struct sock_way *w = state_sock(c);

		if (!w || !w->start_ns)
			return;
		__u64 latency = (handshake_end_ns(flow_of_sock_btf(c->sk, &flow)) - w->start_ns) & SOCK_START_MASK;

		/* A socket whose clock stamp was not refreshed before it connected (TCP_REPAIR restores
		 * a connection without a handshake) has no latency to record. */
		if (latency < SOCK_START_MASK / 2)
			handshake_record(c, &flow, HS_ACTIVE, latency);
		return;
	}
	if (c->oldstate != TCP_SYN_RECV)
		return;
	__u64 end = handshake_end_ns(flow_of_sock_btf(c->sk, &flow));
	struct pkt_tuple t FLOWSLOT_KEY_ALIGNED;

	tuple_of_flow(&flow, &t);
	__u64 tag = flowslot_hash(&t, sizeof(t) / 8);
	struct ingress_flow *w = ingress_flow_find(tag, false);
	__u64 t0 = w ? w->syn_ns : 0;

	if (!t0) {
		PERCPU_BUMP(handshake_stats, HS_STAT_PASSIVE_UNMATCHED);
		return;
	}
	handshake_forget(w, tag, t0);
	handshake_record(c, &flow, HS_PASSIVE, end > t0 ? end - t0 : 0);
}

#endif
