/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * anomaly: incoming TCP segments no honest stack sends (flag combinations of scanners and
 * fingerprinting tools, impossible headers), counted by kind and by source, at the ingress hook.
 * Each segment is counted under one kind, the first that fits in enum anomaly_kind's order (an
 * XMAS segment is XMAS, not also "FIN without ACK"). AccECN's AE bit is a legitimate flag (RFC
 * 9768): counted apart, never as an anomaly.
 *
 * The usual segment (ACK set, at most one of SYN/FIN/RST, no URG, no reserved bit; or a SYN or RST
 * alone) leaves after two tests of the flags it already has; only the rest take the slow path.
 * Reports are rate-limited in the kernel: at most one per source and kind a second, the others
 * counted in the source's total the next report carries. They are alerts (every output shows
 * them): user space turns the first into an alert's start, the others into its changes, and ends
 * it when the source has sent none of that kind for a while.
 *
 * Shared with Java (probe/anomaly): struct anomaly_event, struct anomaly_source, struct
 * anomaly_source_stats, enum anomaly_kind, enum anomaly_stat.
 */
#ifndef TCPINSPECT_PROBE_ANOMALY_H
#define TCPINSPECT_PROBE_ANOMALY_H

#include "lib/probe.h"
#include "lib/packet.h"
#include "lib/maps.h"
#include "lib/events.h"

enum anomaly_kind {
	ANOMALY_NULL = 0,             /* no flag at all */
	ANOMALY_XMAS = 1,             /* FIN, PSH and URG */
	ANOMALY_SYN_FIN = 2,          /* SYN and FIN */
	ANOMALY_SYN_RST = 3,          /* SYN and RST */
	ANOMALY_RST_FIN = 4,          /* RST and FIN */
	ANOMALY_FIN_NO_ACK = 5,       /* FIN without ACK */
	ANOMALY_URG_ZERO_POINTER = 6, /* URG set, urgent pointer 0 */
	ANOMALY_SYN_DATA = 7,         /* a SYN carrying data without a TCP Fast Open cookie */
	ANOMALY_RESERVED_BITS = 8,    /* one of the three reserved header bits set */
	ANOMALY_MALFORMED = 9,        /* IP or TCP header sizes impossible (no source: the header is not trusted) */
	ANOMALY_KINDS = 10,
};

enum anomaly_stat {
	ANOMALY_STAT_ACCECN_AE = 0,    /* segments with AccECN's AE bit: legitimate, counted apart */
	ANOMALY_STAT_ALERTS_LOST = 1,  /* reports the ring buffer had no room for (still in the counts) */
	ANOMALY_STAT_SOURCES_NEW = 2,  /* (source, kind) entries made: beyond the table's size, older ones were evicted */
	ANOMALY_STAT_MAX = 3,
};

/* A source and the kind it sent, the key of the per-source table. */
struct anomaly_source {
	__u8 addr[16];
	__u16 family; /* FLOW_AF_INET or FLOW_AF_INET6 */
	__u8 kind;    /* enum anomaly_kind */
	__u8 pad;
};

struct anomaly_source_stats {
	__u64 packets;  /* segments of this kind from this source */
	__u64 reported; /* jiffies of the last event about it */
};

enum anomaly_report {
	ANOMALY_REPORT_FIRST = 0, /* the first segment of this kind from this source (that the table remembers) */
	ANOMALY_REPORT_AGAIN = 1, /* more of them, a second or more after the last event */
};

struct anomaly_event {
	__u64 ts_ns;
	struct pkt_tuple tuple; /* local side first: the segment's destination */
	__u64 packets;          /* segments of this kind from this source so far */
	__u8 kind;              /* enum anomaly_kind */
	__u8 flags;             /* the segment's flags byte */
	__u8 flags_hi;          /* its reserved bits and AE */
	__u8 report;            /* enum anomaly_report */
	__u32 pad;
};

#define ANOMALY_SOURCES 8192

PROBE_SWITCH(anomaly);
SHARED_WITH_JAVA(struct anomaly_event, anomaly_event);
SHARED_WITH_JAVA(enum anomaly_kind, anomaly_kind);
SHARED_WITH_JAVA(enum anomaly_stat, anomaly_stat);
SHARED_WITH_JAVA(enum anomaly_report, anomaly_report);
PERCPU_COUNTERS(anomaly_counts, ANOMALY_KINDS);
PERCPU_COUNTERS(anomaly_stats, ANOMALY_STAT_MAX);
/* Reports are alerts, wanted by every output: this ring is always read (probe.ProbeSet: PROBE_alerts). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} anomaly_alerts SEC(".maps");

/*
 * Per source and kind: an LRU hash, so that a spoofed stream of anomalies keeps the table at its
 * size (the entries made are counted: ANOMALY_STAT_SOURCES_NEW, and user space compares with what
 * is left). Only anomalous segments reach it: its lock and allocation are off the usual path.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ANOMALY_SOURCES);
	__type(key, struct anomaly_source);
	__type(value, struct anomaly_source_stats);
} anomaly_sources SEC(".maps");

#define TCP_OPTION_FASTOPEN 34
#define TCP_OPTION_EXPERIMENTAL 254
#define TCP_FASTOPEN_MAGIC 0xF989
#define TCP_OPTIONS_BYTES 40

/* A TCP header's options, copied out of the packet (40 bytes at most; the rest of the buffer is zero). */
struct tcp_option_bytes {
	__u8 b[48]; /* 40 used; the rest keeps the reads of an option's first four bytes inside */
};

/*
 * 1 when lo <= v <= hi, else 0, without a branch: the sign bits of v - lo and hi - v, in unsigned
 * arithmetic so that the compiler keeps it arithmetic (BPF has no set-on-compare, so a comparison's
 * value costs a branch, and every branch doubles what the verifier walks in a loop).
 */
static __always_inline __u64 within(__u64 v, __u64 lo, __u64 hi)
{
	return (((v - lo) | (hi - v)) >> 63) ^ 1;
}

/*
 * Whether options of len bytes carry a Fast Open cookie: RFC 7413's option 34 with a cookie (4 to
 * 16 bytes), or the experimental 254 with its magic. Looked for at every offset rather than by
 * walking the options one by one: a walk, each step as long as its option's length byte says, is
 * more than the verifier can follow without bpf_loop (5.17); this loop's offsets do not depend on
 * the data and its body has no branch, so the verifier follows one path through it (a body with
 * branches cost 110 ms of every start: BENCHMARKS.md). A cookie's pattern inside another option's
 * data would be taken for a cookie: the SYN's data would then go uncounted, never counted wrongly.
 */
__noinline int tcp_options_have_fastopen_cookie(const struct tcp_option_bytes *o, __u32 len)
{
	__u64 found = 0;

	if (!o)
		return 0;
#pragma nounroll
	for (int i = 0; i < TCP_OPTIONS_BYTES - 1; i++) {
		__u64 kind = o->b[i];
		__u64 size = o->b[i + 1];
		__u64 magic = ((__u64)o->b[i + 2] << 8) | o->b[i + 3];

		found |= within(i + size, 0, len) &
			 ((within(kind, TCP_OPTION_FASTOPEN, TCP_OPTION_FASTOPEN) & within(size, 6, 18)) |
			  (within(kind, TCP_OPTION_EXPERIMENTAL, TCP_OPTION_EXPERIMENTAL) & within(size, 8, 20) &
			   within(magic, TCP_FASTOPEN_MAGIC, TCP_FASTOPEN_MAGIC)));
	}
	return found;
}

/* Whether a SYN's options carry a Fast Open cookie: copied out eight bytes at a time, then looked through. */
static __always_inline bool anomaly_has_tfo_cookie(const struct pkt *p, const struct tcphdr *th)
{
	struct tcp_option_bytes o = {};
	__u64 *words = (__u64 *)(th + 1);

#pragma unroll
	for (int k = 0; k < 5; k++) {
		if ((void *)(words + k + 1) <= p->data_end)
			__builtin_memcpy(&o.b[8 * k], &words[k], 8);
	}
	return tcp_options_have_fastopen_cookie(&o, p->tcp.doff - sizeof(*th));
}

/* The kind of an unusual segment (the usual ones never get here), or -1 when it is none. */
static __always_inline int anomaly_kind_of(const struct pkt *p)
{
	__u8 f = p->tcp.flags;

	if (!(f & (TCP_FLAG_FIN | TCP_FLAG_SYN | TCP_FLAG_RST | TCP_FLAG_PSH | TCP_FLAG_ACK | TCP_FLAG_URG)))
		return ANOMALY_NULL;
	if ((f & (TCP_FLAG_FIN | TCP_FLAG_PSH | TCP_FLAG_URG)) == (TCP_FLAG_FIN | TCP_FLAG_PSH | TCP_FLAG_URG))
		return ANOMALY_XMAS;
	if ((f & (TCP_FLAG_SYN | TCP_FLAG_FIN)) == (TCP_FLAG_SYN | TCP_FLAG_FIN))
		return ANOMALY_SYN_FIN;
	if ((f & (TCP_FLAG_SYN | TCP_FLAG_RST)) == (TCP_FLAG_SYN | TCP_FLAG_RST))
		return ANOMALY_SYN_RST;
	if ((f & (TCP_FLAG_RST | TCP_FLAG_FIN)) == (TCP_FLAG_RST | TCP_FLAG_FIN))
		return ANOMALY_RST_FIN;
	if ((f & (TCP_FLAG_FIN | TCP_FLAG_ACK)) == TCP_FLAG_FIN)
		return ANOMALY_FIN_NO_ACK;
	if (f & TCP_FLAG_URG) {
		struct tcphdr *th = pkt_tcp_header(p);

		if (th && th->urg_ptr == 0)
			return ANOMALY_URG_ZERO_POINTER;
	}
	if ((f & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN && p->tcp.payload_len > 0) {
		struct tcphdr *th = pkt_tcp_header(p);

		if (th && !anomaly_has_tfo_cookie(p, th))
			return ANOMALY_SYN_DATA;
	}
	if (p->tcp.flags_hi & TCP_FLAG_HI_RESERVED)
		return ANOMALY_RESERVED_BITS;
	return -1;
}

static __always_inline void anomaly_report(struct pkt *p, int kind, __u64 packets, enum anomaly_report report)
{
	struct anomaly_event *e = bpf_ringbuf_reserve(&anomaly_alerts, sizeof(*e), 0);

	if (!e) {
		PERCPU_ADD(anomaly_stats, ANOMALY_STAT_ALERTS_LOST);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->tuple = p->tuple;
	e->packets = packets;
	e->kind = kind;
	e->flags = p->tcp.flags;
	e->flags_hi = p->tcp.flags_hi;
	e->report = report;
	e->pad = 0;
	bpf_ringbuf_submit(e, alerts_wakeup_flag(&anomaly_alerts));
}

/* Counts an anomalous segment under its kind and its source, with an event at most once a second per source and kind. */
static __always_inline void anomaly_record(struct pkt *p, int kind)
{
	if (kind < 0 || kind >= ANOMALY_KINDS)
		return;
	PERCPU_ADD(anomaly_counts, kind);
	const struct pkt_tuple *t = pkt_tuple(p);

	if (!t)
		return;
	struct anomaly_source key = {.family = t->family, .kind = kind};
	__u64 now = bpf_jiffies64();

	__builtin_memcpy(key.addr, t->raddr, sizeof(key.addr));
	struct anomaly_source_stats *s = bpf_map_lookup_elem(&anomaly_sources, &key);

	if (!s) {
		struct anomaly_source_stats first = {.packets = 1, .reported = now};

		if (bpf_map_update_elem(&anomaly_sources, &key, &first, BPF_NOEXIST) == 0) {
			PERCPU_ADD(anomaly_stats, ANOMALY_STAT_SOURCES_NEW);
			anomaly_report(p, kind, 1, ANOMALY_REPORT_FIRST);
			return;
		}
		s = bpf_map_lookup_elem(&anomaly_sources, &key); /* another CPU made it first */
		if (!s)
			return;
	}
	__u64 packets = __sync_add_and_fetch(&s->packets, 1);
	__u64 reported = s->reported;

	if (now - reported >= jiffies_per_second() &&
	    __sync_val_compare_and_swap(&s->reported, reported, now) == reported)
		anomaly_report(p, kind, packets, ANOMALY_REPORT_AGAIN);
}

/* Every packet at the ingress hook (malformed ones included: they have no trusted source). */
static __always_inline void anomaly_on_ingress(struct pkt *p)
{
	if (!anomaly_enabled)
		return;
	if (p->result == PARSE_MALFORMED) {
		PERCPU_ADD(anomaly_counts, ANOMALY_MALFORMED);
		return;
	}
	if (p->result != PARSE_TCP)
		return;
	__u8 f = p->tcp.flags;
	__u8 sfr = f & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST);

	if (p->tcp.flags_hi & TCP_FLAG_HI_AE)
		PERCPU_ADD(anomaly_stats, ANOMALY_STAT_ACCECN_AE);
	/* The usual segments: ACK with at most one of SYN, FIN, RST; or a SYN or RST alone, without data. */
	if (!(p->tcp.flags_hi & TCP_FLAG_HI_RESERVED) && !(f & TCP_FLAG_URG) && !(sfr & (sfr - 1)) &&
	    ((f & TCP_FLAG_ACK) || sfr == TCP_FLAG_RST || (sfr == TCP_FLAG_SYN && p->tcp.payload_len == 0)))
		return;
	anomaly_record(p, anomaly_kind_of(p));
}

#endif
