/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * scan: port scans of this host. Per source address, the distinct destination ports it touched in
 * a sliding window (segments without ACK at the ingress hook: SYN, FIN, NULL, XMAS; and ports the
 * kernel answered with a reset for no connection, which is how an ACK probe shows), and the distinct
 * closed ones (resets sent for no socket at all). A source crossing either threshold raises one
 * alert record, the episode's start; user space follows the source's record from then on and ends
 * the episode when it goes quiet. Observation only: nothing is dropped.
 *
 * Distinct ports are counted in a 512-bit set per window quarter (a port's bit by a seeded hash):
 * a port counts when its bit is set for the first time in the live quarters, so the count is of
 * distinct bits. User space turns its thresholds (distinct ports) into bits before loading and
 * bits back into ports when it reports (linear counting), so collisions neither raise an alert early
 * nor hide a sweep. A quarter's count leaves the window with it.
 *
 * Sources live in a set-associative table (flowslots.h) of SCAN_SOURCES records: a spoofed sweep
 * takes over ways of older sources, never more memory; a way taken from a source seen within the
 * window is counted (SCAN_STAT_SOURCES_EVICTED), and so are probes from a source whose set has both
 * ways held by episodes user space still follows (SCAN_STAT_SOURCES_UNTRACKED). Updates of one
 * record from two CPUs at once are not atomic (a bit or a count may be lost): counts are estimates. Ordinary traffic costs one flag test at the ingress
 * hook (segments with ACK never get here); a SYN costs a hash and the lines of its source's record.
 *
 * Shared with Java (probe/scan): struct scan_source, struct scan_alert, enum scan_style, enum scan_stat.
 */
#ifndef TCPINSPECT_PROBE_SCAN_H
#define TCPINSPECT_PROBE_SCAN_H

#include "lib/probe.h"
#include "lib/packet.h"
#include "lib/flow.h"
#include "lib/maps.h"
#include "lib/flowslots.h"
#include "lib/skb.h"
#include "lib/sockets.h"
#include "lib/verifier.h"

enum scan_style {
	SCAN_STYLE_SYN = 0,  /* SYN without ACK (half-open, or connect: see established) */
	SCAN_STYLE_FIN = 1,  /* FIN alone */
	SCAN_STYLE_NULL = 2, /* no flag */
	SCAN_STYLE_XMAS = 3, /* FIN, PSH, URG */
	SCAN_STYLE_ACK = 4,  /* a bare ACK for no connection (answered by a reset) */
	SCAN_STYLE_OTHER = 5,
	SCAN_STYLES = 6,
};

enum scan_stat {
	SCAN_STAT_ALERTS = 0,           /* alert records made (episodes started) */
	SCAN_STAT_ALERTS_LOST = 1,      /* alerts the ring had no room for (the source's next probe tries again) */
	SCAN_STAT_SOURCES_EVICTED = 2,  /* sources pushed out of the table while still inside their window */
	SCAN_STAT_SOURCES_UNTRACKED = 3, /* probes from a source whose set was held by two sources under alert */
	SCAN_STAT_MAX = 4,
};

#define SCAN_BITMAP_WORDS 8 /* 512 bits */
#define SCAN_BITS (SCAN_BITMAP_WORDS * 64)
#define SCAN_QUARTERS 4
#define SCAN_SAMPLE 8
#define SCAN_SET_BITS 11 /* 2,048 sets of 2 ways: 4,096 sources */
#define SCAN_WAYS 2
#define SCAN_SOURCES ((1 << SCAN_SET_BITS) * SCAN_WAYS)

/* Distinct ports of one window: a bit set per quarter, word-major so one test reads one line. */
struct scan_window {
	__u64 bits[SCAN_BITMAP_WORDS][SCAN_QUARTERS];
	__u32 quarter[SCAN_QUARTERS]; /* which quarter (jiffies / quarter length) each slot holds */
	__u32 fresh[SCAN_QUARTERS];   /* bits first set in that quarter */
};

struct scan_source {
	__u64 tag;                   /* flowslot hash of the address; 0: free */
	__u64 alerted;               /* 1 from the alert on, until user space ends the episode */
	__u8 addr[16];
	__u16 family;
	__u16 samples;               /* ports in sample[] */
	__u32 pad;
	__u64 first_seen;            /* jiffies */
	__u64 last_seen;             /* jiffies */
	__u32 probes[SCAN_STYLES];   /* segments by style */
	__u32 established;           /* handshakes this source completed */
	__u32 ports_peak;            /* the most distinct-port bits one window held */
	__u32 closed_peak;           /* the most distinct closed-port bits one window held */
	__u16 sample[SCAN_SAMPLE];   /* the first ports touched */
	struct scan_window ports;    /* every port touched */
	struct scan_window closed;   /* ports answered by a reset for no socket */
};

/* An episode's start: the source's record to follow (user space reads it by index). */
struct scan_alert {
	__u64 ts_ns;
	__u64 jiffies;   /* the same moment in jiffies, to date the record's first_seen and last_seen */
	__u32 index;     /* the record's index in scan_sources */
	__u32 hz;        /* jiffies a second */
	__u32 ports;     /* distinct-port bits in the window when it crossed */
	__u32 closed;    /* distinct closed-port bits */
};

PROBE_SWITCH(scan);
SHARED_WITH_JAVA(struct scan_alert, scan_alert);
SHARED_WITH_JAVA(enum scan_style, scan_style);
SHARED_WITH_JAVA(enum scan_stat, scan_stat);
PERCPU_COUNTERS(scan_stats, SCAN_STAT_MAX);

/* Set by user space (probe/scan) from its options: windows in milliseconds, thresholds in bits. */
const volatile __u32 scan_ports_window_ms = 10000;
const volatile __u32 scan_closed_window_ms = 5000;
const volatile __u32 scan_ports_threshold_bits = 48;
const volatile __u32 scan_closed_threshold_bits = 15;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCAN_SOURCES);
	__type(key, __u32);
	__type(value, struct scan_source);
} scan_sources SEC(".maps");

/* Alerts are rare and always wanted (the table view shows them too): this ring is read whatever the output. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} scan_alerts SEC(".maps");

/*
 * Everything of a record after its tag, zeroed for a new source: a global function, which the
 * verifier checks once rather than on every path to it (verifier.h); a source is new rarely.
 */
__noinline int scan_source_clear(struct scan_source *s)
{
	/* From an aligned member, so that clang zeroes it in 8-byte stores, not 680 single bytes. */
	if (s)
		__builtin_memset(&s->alerted, 0, sizeof(*s) - __builtin_offsetof(struct scan_source, alerted));
	return 0;
}

/* The record of a source: its own way, else a free one, else the older one (counted when still in its window). */
static __always_inline struct scan_source *scan_source_of(__u64 tag, const __u8 *addr, __u16 family, __u64 now,
							  bool take, __u32 *index)
{
	__u32 base = flowslot_set(tag, SCAN_SET_BITS) * SCAN_WAYS;
	__u32 i0 = base, i1 = base + 1;
	struct scan_source *w0 = bpf_map_lookup_elem(&scan_sources, &i0);
	struct scan_source *w1 = bpf_map_lookup_elem(&scan_sources, &i1);

	if (!w0 || !w1)
		return NULL;
	if (w0->tag == tag) {
		*index = i0;
		return w0;
	}
	if (w1->tag == tag) {
		*index = i1;
		return w1;
	}
	if (!take)
		return NULL;
	/* A free way, else the one seen longest ago; never one whose episode user space still follows. */
	struct scan_source *s;

	if (!w0->tag || (!w0->alerted && (w1->alerted || (w1->tag && w0->last_seen <= w1->last_seen)))) {
		s = w0;
		*index = i0;
	} else {
		s = w1;
		*index = i1;
	}
	if (s->alerted) {
		/* Both ways follow an episode: this source is not tracked until one ends (user space frees it). */
		PERCPU_BUMP(scan_stats, SCAN_STAT_SOURCES_UNTRACKED);
		return NULL;
	}
	__u64 old = s->tag;

	/* Claimed with a compare-and-swap, as slottable.h does: of two CPUs taking the way, one wins. */
	if (__sync_val_compare_and_swap(&s->tag, old, tag) != old)
		return s->tag == tag ? s : NULL;
	if (old && now - s->last_seen < (__u64)scan_ports_window_ms * jiffies_per_second() / 1000)
		PERCPU_BUMP(scan_stats, SCAN_STAT_SOURCES_EVICTED);
	/* Everything after the tag starts again (the tag stays claimed meanwhile). */
	scan_source_clear(s);
	__builtin_memcpy(s->addr, addr, 16);
	s->family = family;
	s->first_seen = now;
	return s;
}

/*
 * Adds a port to a window at this quarter; the window's distinct-port bits after it, and whether the
 * bit was new. A global function, checked once by the verifier rather than on every path to it
 * (verifier.h); called for segments without ACK (first SYNs, probes), not a connection's others.
 */
__noinline __u32 scan_window_add(struct scan_window *w, __u32 port, __u32 quarter, bool *fresh)
{
	if (!w || !fresh)
		return 0;
	__u32 slot = quarter & (SCAN_QUARTERS - 1);

	if (w->quarter[slot] != quarter) {
#pragma unroll
		for (int i = 0; i < SCAN_BITMAP_WORDS; i++)
			w->bits[i][slot] = 0;
		w->fresh[slot] = 0;
		w->quarter[slot] = quarter;
	}
	/* A seeded mix of the port, so that bits collide at random (linear counting assumes so), whatever the ports. */
	__u64 h = (port + 1) ^ flowslot_seed;

	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	__u32 bit = h >> (64 - 9);
	__u32 word = (bit >> 6) & (SCAN_BITMAP_WORDS - 1);
	__u64 mask = 1ULL << (bit & 63);
	bool seen = false;
	__u32 count = 0;

#pragma unroll
	for (int q = 0; q < SCAN_QUARTERS; q++) {
		if (quarter - w->quarter[q] < SCAN_QUARTERS) {
			if (w->bits[word][q] & mask)
				seen = true;
			count += w->fresh[q];
		}
	}
	*fresh = !seen;
	if (seen)
		return count;
	w->bits[word][slot] |= mask;
	w->fresh[slot]++;
	return count + 1;
}

static __always_inline __u32 scan_quarter(__u64 now, __u32 window_ms)
{
	__u64 length = (__u64)window_ms * jiffies_per_second() / (1000 * SCAN_QUARTERS);

	return (__u32)(now / (length ? length : 1));
}

/* Raises the episode's alert once, when a window crosses its threshold. */
static __always_inline void scan_check(struct scan_source *s, __u32 index, __u32 ports, __u32 closed, __u64 now)
{
	if (ports < scan_ports_threshold_bits && closed < scan_closed_threshold_bits)
		return;
	if (s->alerted || __sync_val_compare_and_swap(&s->alerted, 0, 1) != 0)
		return;
	struct scan_alert *a = bpf_ringbuf_reserve(&scan_alerts, sizeof(*a), 0);

	if (!a) {
		/* No room: the source's next probe tries again (an alert user space never heard of would
		 * keep its record from ever being freed). */
		PERCPU_BUMP(scan_stats, SCAN_STAT_ALERTS_LOST);
		s->alerted = 0;
		return;
	}
	PERCPU_BUMP(scan_stats, SCAN_STAT_ALERTS);
	a->ts_ns = bpf_ktime_get_ns();
	a->jiffies = now;
	a->index = index;
	a->hz = jiffies_per_second();
	a->ports = ports;
	a->closed = closed;
	bpf_ringbuf_submit(a, BPF_RB_FORCE_WAKEUP);
}

/* A port touched by a source, in a given style; closed when the kernel had no socket for it. */
static __always_inline void scan_touch(__u64 tag, const __u8 *addr, __u16 family, __u16 port, __u32 style,
				       bool closed)
{
	__u64 now = bpf_jiffies64();
	__u32 index = 0;
	struct scan_source *s = scan_source_of(tag, addr, family, now, true, &index);

	if (!s)
		return;
	bool fresh = false;
	__u32 ports = scan_window_add(&s->ports, port, scan_quarter(now, scan_ports_window_ms), &fresh);
	__u32 closed_bits = 0;

	if (ports > s->ports_peak)
		s->ports_peak = ports;
	if (fresh) {
		__u16 n = s->samples;

		if (n < SCAN_SAMPLE) {
			s->sample[n & (SCAN_SAMPLE - 1)] = port;
			s->samples = n + 1;
		}
	}
	if (closed) {
		bool closed_fresh = false;

		closed_bits = scan_window_add(&s->closed, port, scan_quarter(now, scan_closed_window_ms), &closed_fresh);
		if (closed_bits > s->closed_peak)
			s->closed_peak = closed_bits;
	}
	if (style < SCAN_STYLES)
		s->probes[style]++;
	s->last_seen = now;
	scan_check(s, index, ports, closed_bits, now);
}

/* Every TCP segment at the ingress hook: only those without ACK or RST (probes, first SYNs) go further. */
static __always_inline void scan_on_ingress(struct pkt *p)
{
	if (!scan_enabled)
		return;
	__u8 f = p->tcp.flags;

	if (f & (TCP_FLAG_ACK | TCP_FLAG_RST))
		return;
	const struct pkt_tuple *t = pkt_tuple(p);

	if (!t)
		return;
	int style;

	if ((f & (TCP_FLAG_SYN | TCP_FLAG_FIN)) == TCP_FLAG_SYN)
		style = SCAN_STYLE_SYN;
	else if ((f & (TCP_FLAG_FIN | TCP_FLAG_PSH | TCP_FLAG_URG)) == (TCP_FLAG_FIN | TCP_FLAG_PSH | TCP_FLAG_URG))
		style = SCAN_STYLE_XMAS;
	else if ((f & 0x3f) == TCP_FLAG_FIN)
		style = SCAN_STYLE_FIN;
	else if (!(f & 0x3f))
		style = SCAN_STYLE_NULL;
	else
		style = SCAN_STYLE_OTHER;
	/* One state for every style from here on (verifier.h). */
	scan_touch(pkt_source_hash(p), t->raddr, t->family, t->lport, verifier_forget(style), false);
}

/*
 * tp_btf/tcp_send_reset: a reset answering a segment for no connection. With no socket at all the
 * port is closed; from a listener, the segment was a bare ACK for no handshake (an ACK probe).
 */
static __always_inline void scan_on_send_reset(const struct sock *sk, const struct sk_buff *skb)
{
	if (!scan_enabled || !skb)
		return;
	bool listener = sk && sk->__sk_common.skc_state == TCP_LISTEN;

	if (sk && !listener)
		return;
	struct flow flow = {};

	if (!skb_tcp_flow(skb, &flow, true))
		return;
	flow.netns = sk ? sock_netns_btf(sk) : skb_netns(skb);
	if (!netns_wanted(flow.netns))
		return;
	__u8 hdr[2] = {};

	/* The answered segment's data offset and flags; skb->data is at its TCP header here. */
	bpf_probe_read_kernel(hdr, 2, skb->head + skb->transport_header + 12);
	__u8 flags = hdr[1];
	__u32 header = (hdr[0] >> 4) * 4;
	/*
	 * A probe carries neither data nor FIN: a segment that does is a connection's late straggler
	 * (to a port a local abort just closed), not a scan, however many ports they land on.
	 */
	if ((flags & TCP_FLAG_ACK) && ((flags & TCP_FLAG_FIN) || skb->len > header))
		return;
	bool bare_ack = (flags & (TCP_FLAG_ACK | TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) == TCP_FLAG_ACK;

	/* Other resets answer SYN, FIN, NULL or XMAS probes the ingress hook already counted by style. */
	scan_touch(source_hash(flow.raddr, flow.family), flow.raddr, flow.family, flow.lport,
		   bare_ack ? SCAN_STYLE_ACK : SCAN_STYLE_OTHER, !sk);
}

/* A passive handshake completed (SYN_RECV to ESTABLISHED): a connect scan completes them, a SYN scan never. */
static __always_inline void scan_on_state(const struct state_change *c)
{
	if (!scan_enabled || c->newstate != TCP_ESTABLISHED || c->oldstate != TCP_SYN_RECV)
		return;
	struct flow flow = {};
	__u32 index = 0;

	flow_of_sock_btf(c->sk, &flow);
	struct scan_source *s = scan_source_of(source_hash(flow.raddr, flow.family), flow.raddr, flow.family, 0, false,
					       &index);

	if (s)
		s->established++; /* a count to tell styles apart: a lost increment between two CPUs does not matter */
}

#endif
