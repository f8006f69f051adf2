/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * flood: SYN floods, per listening port. The kernel counts, per CPU and without locks, SYNs per
 * destination port and the handshakes completed on it (slottable.h), SYNs per source (the same,
 * keyed by address), and the distinct sources of every SYN in a HyperLogLog sketch of 256
 * registers. User space reads them every second with the kernel's SYN-cookie and listen-overflow
 * counters, decides onsets and ends, and tells a spoofed flood (many sources, each seen a few
 * times) from one by real sources (named, with their rates). Observation only.
 *
 * Shared with Java (probe/flood): struct flood_port_key, struct flood_port_counts, struct
 * flood_hll, enum flood_stat.
 */
#ifndef TCPINSPECT_PROBE_FLOOD_H
#define TCPINSPECT_PROBE_FLOOD_H

#include "lib/probe.h"
#include "lib/packet.h"
#include "lib/maps.h"
#include "lib/slottable.h"
#include "lib/sockets.h"

enum flood_stat {
	FLOOD_STAT_SYNS = 0,              /* SYNs seen at the ingress hook */
	FLOOD_STAT_PORTS_UNTRACKED = 1,   /* SYNs and handshakes under no port (its set was full) */
	FLOOD_STAT_SOURCES_UNTRACKED = 2, /* SYNs under no source (a spoofed flood fills the table: expected) */
	FLOOD_STAT_MAX = 3,
};

struct flood_port_key {
	__u64 port; /* local port, host byte order */
};

struct flood_port_counts {
	__u64 syns;        /* SYNs to it */
	__u64 established; /* handshakes completed on it (SYN_RECV to ESTABLISHED) */
};

#define FLOOD_HLL_REGISTERS 256

/* A HyperLogLog sketch of the SYNs' sources: register i keeps the most leading zeros (plus one) seen. */
struct flood_hll {
	__u8 reg[FLOOD_HLL_REGISTERS];
};

PROBE_SWITCH(flood);
SHARED_WITH_JAVA(enum flood_stat, flood_stat);
PERCPU_COUNTERS(flood_stats, FLOOD_STAT_MAX);
SLOT_TABLES(flood_ports, struct flood_port_key, struct flood_port_counts, 8);
SLOT_TABLES(flood_sources, struct source_key, __u64, 10);

/* Two sketches per CPU: the kernel writes the one flood_sketch_active[0] names, user space reads and zeroes the other. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct flood_hll);
} flood_sketches SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} flood_sketch_active SEC(".maps");

/*
 * Leading zeros of a 56-bit value shifted to the top, plus one (HyperLogLog's rank); at most 57. A
 * global function: the verifier checks it once and sees a number come out, not each of the 57
 * ranks its branches make, each followed to the end of the handler (verifier.h).
 */
__noinline __u32 flood_rank(__u64 w)
{
	__u32 rank = 1;

	w |= 1ULL << 7; /* the bits below the 56 used: a value of all zeros ranks 57 */
	if (!(w >> 32)) {
		rank += 32;
		w <<= 32;
	}
	if (!(w >> 48)) {
		rank += 16;
		w <<= 16;
	}
	if (!(w >> 56)) {
		rank += 8;
		w <<= 8;
	}
	if (!(w >> 60)) {
		rank += 4;
		w <<= 4;
	}
	if (!(w >> 62)) {
		rank += 2;
		w <<= 2;
	}
	if (!(w >> 63))
		rank += 1;
	return rank;
}

/* Every TCP segment at the ingress hook: a SYN without ACK is counted by port, by source and in the sketch. */
static __always_inline void flood_on_ingress(struct pkt *p)
{
	if (!flood_enabled)
		return;
	if ((p->tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) != TCP_FLAG_SYN)
		return;
	PERCPU_ADD(flood_stats, FLOOD_STAT_SYNS);
	struct flood_port_key port = {.port = p->tcp.dport};
	struct flood_port_counts *pc = flood_ports_slot(&port);

	if (pc)
		__sync_fetch_and_add(&pc->syns, 1);
	else
		PERCPU_ADD(flood_stats, FLOOD_STAT_PORTS_UNTRACKED);

	__u64 h = pkt_source_hash(p);
	const struct pkt_tuple *t = pkt_tuple(p);

	if (!h || !t)
		return;
	struct source_key source = {.family = t->family};

	__builtin_memcpy(source.addr, t->raddr, 16);
	__u64 *n = flood_sources_slot_tagged(&source, h); /* h is this key's hash (source_hash, flowslots.h) */

	if (n)
		(*n)++;
	else
		PERCPU_ADD(flood_stats, FLOOD_STAT_SOURCES_UNTRACKED);

	__u32 zero = 0;
	__u32 *active = bpf_map_lookup_elem(&flood_sketch_active, &zero);

	if (!active)
		return;
	__u32 bank = *active & 1;
	struct flood_hll *hll = bpf_map_lookup_elem(&flood_sketches, &bank);

	if (!hll)
		return;
	/* The source hash was seeded and mixed once already; its top 8 bits pick the register. */
	__u8 rank = flood_rank(h << 8);
	__u8 *reg = &hll->reg[(h >> 56) & (FLOOD_HLL_REGISTERS - 1)];

	if (*reg < rank)
		*reg = rank;
}

/* A passive handshake completed: counted under its local port. */
static __always_inline void flood_on_state(const struct state_change *c)
{
	if (!flood_enabled || c->newstate != TCP_ESTABLISHED || c->oldstate != TCP_SYN_RECV)
		return;
	struct flood_port_key port = {.port = c->sk->__sk_common.skc_num};
	struct flood_port_counts *pc = flood_ports_slot(&port);

	if (pc)
		__sync_fetch_and_add(&pc->established, 1);
	else
		PERCPU_BUMP(flood_stats, FLOOD_STAT_PORTS_UNTRACKED);
}

#endif
