/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * One record per flow seen at the ingress hook, shared by the probes that keep state per incoming
 * flow there (handshake: the time of the flow's first SYN; dupack: its detector), as sockets.h
 * shares one record per connection among the state handlers. A new connection then costs one
 * record at this hook instead of one per probe, and the SYN's record is still in the cache when the
 * handshake's ACK and the state change reach it.
 *
 * Two set-associative tables (flowslots.h) of two 32-byte ways in each 64-byte set, tagged by the
 * packet tuple's hash (pkt_tuple_hash): a young one of 32 KiB, where every flow starts, and an old one
 * of 2 MiB, where flows move when their young way is needed while they still run. The first touch of
 * a random line of a table as large as the L2 cost 300-450 ns a connection on this kind of machine
 * (BENCHMARKS.md); a short connection that ends (a FIN or RST seen) before its young way is needed
 * again, while no record has moved to the old table for a minute, never touches the old table, and
 * its way is taken without moving. A tuple may then have a stale record in the old table beside its
 * young one: the young one is found first, and takes the stale one's way if it moves.
 *
 * A flow takes a free way, else a spare one (ended, or holding a flow seen once, after its handshake:
 * maybe the last ACK of one whose ended record went), else the way of the flow seen longest ago. A SYN takes
 * only a way that is spare, holds a flow still in its handshake, or holds one idle for a second, in
 * either table: a SYN flood must not push established flows out of dupack's detector (its SYNs push
 * out each other, as unanswered SYNs age out in an LRU). A way is free again once no probe keeps
 * anything in it: handshake frees a way whose handshake it ends unless dupack has started its
 * detector there.
 */
#ifndef TCPINSPECT_INGRESSFLOWS_H
#define TCPINSPECT_INGRESSFLOWS_H

#include "probe.h"
#include "flowslots.h"

#define INGRESS_FLOW_SET_BITS 15 /* the old flows: 32,768 sets of 2 ways, 65,536 flows in 2 MiB */
#define INGRESS_YOUNG_SET_BITS 9  /* the young ones: 512 sets of 2 ways, 1,024 flows in 32 KiB */

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
	__u8 ended;        /* dupack: enum ingress_flow_end; not LIVE: the record may go without moving */
};

enum ingress_flow_end {
	INGRESS_FLOW_LIVE = 0,
	INGRESS_FLOW_ENDED = 1,       /* the peer sent a FIN or RST */
	INGRESS_FLOW_UNCONFIRMED = 2, /* one segment seen, after the handshake: maybe the last ACK of a
				       * flow whose ended record went */
};

struct ingress_flow_set {
	struct ingress_flow way[2];
};

_Static_assert(sizeof(struct ingress_flow_set) == 64, "one set per 64-byte cache line");

/* Flows that have lived past their time in the young table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << INGRESS_FLOW_SET_BITS);
	__type(key, __u32);
	__type(value, struct ingress_flow_set);
} shared_ingress_flows SEC(".maps");

/* Where every flow starts: small enough to stay in the cache. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << INGRESS_YOUNG_SET_BITS);
	__type(key, __u32);
	__type(value, struct ingress_flow_set);
} shared_young_flows SEC(".maps");

/* A flow's set in each table: the hash's high bits, so flows that share an old set share a young one. */
static __always_inline struct ingress_flow_set *ingress_old_set(__u64 tag)
{
	__u32 index = flowslot_set(tag, INGRESS_FLOW_SET_BITS);

	return bpf_map_lookup_elem(&shared_ingress_flows, &index);
}

static __always_inline struct ingress_flow_set *ingress_young_set(__u64 tag)
{
	__u32 index = flowslot_set(tag, INGRESS_YOUNG_SET_BITS);

	return bpf_map_lookup_elem(&shared_young_flows, &index);
}

/* The way of set holding tag, or NULL. */
static __always_inline struct ingress_flow *ingress_flow_in(struct ingress_flow_set *set, __u64 tag)
{
	if (set->way[0].tag == tag)
		return &set->way[0];
	if (set->way[1].tag == tag)
		return &set->way[1];
	return NULL;
}

/*
 * When a record last moved to the old table (jiffies, low 32 bits; 0: none since the load), and how
 * long a SYN looks there after it: a retried SYN must find its first one's record (Linux retries a
 * SYN for 63 s by default), and a SYN on a followed flow's tuple its detector. While nothing moves, as
 * under short connections that end before their young way is needed again, a SYN's record is young
 * or new, and its first lookup touches no cold line.
 */
__u32 ingress_last_move;
#define INGRESS_SYN_LOOKS_OLD_SECONDS 64

static __always_inline bool ingress_moved_lately(void)
{
	__u32 last = ingress_last_move;

	return last && (__u32)bpf_jiffies64() - last < INGRESS_SYN_LOOKS_OLD_SECONDS * jiffies_per_second();
}

/*
 * The flow's record, or NULL: the young table first (it holds a short connection's whole life), then
 * the old one, which a SYN skips while no record has moved there lately.
 */
static __always_inline struct ingress_flow *ingress_flow_find(__u64 tag, bool syn)
{
	struct ingress_flow_set *young = ingress_young_set(tag);
	struct ingress_flow *w = young ? ingress_flow_in(young, tag) : NULL;

	if (w || (syn && !ingress_moved_lately()))
		return w;
	struct ingress_flow_set *old = ingress_old_set(tag);

	return old ? ingress_flow_in(old, tag) : NULL;
}

/*
 * A way free, or holding a flow that ended (or is not confirmed) with no handshake pending: taking it
 * moves nothing to the old table.
 */
static __always_inline bool ingress_flow_spare(const struct ingress_flow *w)
{
	return !w->tag || (w->ended && !w->syn_ns);
}

/* Whether a SYN may take this way: spare, a flow still in its handshake, or one idle for a second. */
static __always_inline bool ingress_flow_yields_to_syn(const struct ingress_flow *w, __u32 now)
{
	return ingress_flow_spare(w) || !w->detector || now - w->used >= jiffies_per_second();
}

/* A flow whose detector ran and was seen within the last second (taking its way loses a busy flow). */
static __always_inline bool ingress_flow_busy(const struct ingress_flow *w, __u32 now)
{
	return w->tag && w->detector && !w->ended && now - w->used < jiffies_per_second();
}

/*
 * The way of set a record for tag takes: one holding tag already, else a free one, else a spare one,
 * else the one seen longest ago of those it may take (a SYN's: those that yield to it); -1 when a SYN
 * may take neither.
 */
static __always_inline int ingress_way_pick(struct ingress_flow_set *set, __u64 tag, bool syn, __u32 now)
{
	/* An old record of the same tuple that a SYN did not look for (ingress_flow_find) is stale. */
	if (set->way[0].tag == tag)
		return 0;
	if (set->way[1].tag == tag)
		return 1;
	/* A free way before a spare one: an ended flow's record stays for its last segments while it can. */
	if (!set->way[0].tag)
		return 0;
	if (!set->way[1].tag)
		return 1;
	if (ingress_flow_spare(&set->way[0]))
		return 0;
	if (ingress_flow_spare(&set->way[1]))
		return 1;
	bool may0 = !syn || ingress_flow_yields_to_syn(&set->way[0], now);
	bool may1 = !syn || ingress_flow_yields_to_syn(&set->way[1], now);

	if (may0 && (!may1 || (__s32)(set->way[0].used - set->way[1].used) <= 0))
		return 0;
	return may1 ? 1 : -1;
}

/*
 * The record a flow not in either table takes (its tag set, every other field cleared, used now), or
 * NULL when it is a SYN and no way yields to it.
 *
 * Every flow starts in the young table, which stays in the cache: the record of a connection that
 * ends before its way is needed again (a FIN or RST seen) is never written anywhere else, and a
 * short connection costs no cold line (a first touch of a random line of a table as large as the L2
 * cost 300-450 ns a connection, BENCHMARKS.md). The way taken is picked by the rule of a single
 * table; the flow it held, unless spare, moves to its set in the old table under the same rule, and
 * what that way held goes. A SYN, or a record that is not a running detector, takes there only a way
 * that yields to a SYN, so a SYN flood pushes out no established flow: when neither young way
 * yields to a SYN, the older one's flow moves if its old set has a way that does, else the SYN has
 * no record. *active is set when a busy flow (ingress_flow_busy) went.
 *
 * The way is claimed with a compare-and-swap on its tag, from the tag of a copy of the way taken
 * when it was picked; only then does the copy move to the old table, so a CPU that loses the way
 * writes nothing. Of two CPUs taking one way at once (two new flows in one set, while the first
 * reads the old table's set, a cold line), one wins, and the other gets NULL with *raced set, for
 * its caller to count. Before, both wrote their tag, and one flow's record silently became the
 * other's (a handshake then unmatched: once in ~100,000 accepted under NestedRunsTest's churn). A
 * way freed meanwhile (its flow's handshake ended) is taken as free, its copy not moved; one that
 * another CPU has just given this very tuple is this flow's already. The fields are written right
 * after the claim, the SYN's time and sequence number among them (syn_ns, next_seq: 0 for a record
 * that is not a SYN's), so that the record is whole before anything slow, and the claim is then
 * read again: a CPU that picked the way while its fields still said spare (the last flow's) may
 * have taken it in between, and that is counted too. What is left to chance: a CPU that read the
 * fields before they were written and claims after that read, a window of a few instructions on
 * each side.
 */
static __always_inline struct ingress_flow *ingress_flow_take(__u64 tag, bool syn, __u32 now, __u64 syn_ns,
							     __u32 next_seq, bool *active, bool *raced)
{
	struct ingress_flow_set *young = ingress_young_set(tag);

	*active = false;
	*raced = false;
	if (!young)
		return NULL;
	int pick = ingress_way_pick(young, tag, syn, now);
	int i = pick >= 0 ? pick : (__s32)(young->way[0].used - young->way[1].used) <= 0 ? 0 : 1;
	struct ingress_flow *w = &young->way[i & 1];
	struct ingress_flow prev = *w; /* the flow the way holds, to move if it is not spare */
	struct ingress_flow *o = NULL;

	if (prev.tag == tag)
		return w; /* another CPU has just taken a way for this tuple */
	if (!ingress_flow_spare(&prev)) {
		struct ingress_flow_set *old = ingress_old_set(prev.tag);
		int j = old ? ingress_way_pick(old, prev.tag, syn || !prev.detector, now) : -1;

		if (j < 0 && pick < 0)
			return NULL;
		if (j >= 0 && old)
			o = &old->way[j & 1];
	}
	__u64 seen = __sync_val_compare_and_swap(&w->tag, prev.tag, tag);

	if (seen != prev.tag) {
		if (seen || __sync_val_compare_and_swap(&w->tag, 0, tag) != 0) {
			*raced = true;
			return NULL;
		}
		o = NULL; /* freed meanwhile: nothing to move */
	}
	w->syn_ns = syn_ns;
	w->next_seq = next_seq;
	w->used = now;
	w->last_ack = 0;
	w->last_window = 0;
	w->detector = 0;
	w->ended = INGRESS_FLOW_LIVE;
	/* Read again as an atomic, which also orders it after the stores above. */
	bool lost = __sync_val_compare_and_swap(&w->tag, tag, tag) != tag;

	if (o) {
		*active = o->tag != prev.tag && ingress_flow_busy(o, now);
		*o = prev;
		if (ingress_last_move != now)
			ingress_last_move = now ? now : 1;
	}
	if (lost) {
		*raced = true;
		return NULL;
	}
	return w;
}

#endif
