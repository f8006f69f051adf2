/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * upstream: the health of the upstreams this host connects to (a gateway's LLM providers, API
 * backends), per upstream the user named. A connection belongs to an upstream when its remote
 * address and port match one of the upstream's targets (an address or a prefix, and a port or any),
 * which user space sets before loading (upstream_targets: constants, so a watch with no upstream
 * runs none of this code). Per upstream: connect attempts and how each ended, handshake latency,
 * smoothed RTT at the end of a connection, retransmits, resets, bytes and segments of the
 * connections that ended, zero windows either way, and what tells a stalled stream. All from the
 * state-change and TCP tracepoints, but for the windows and the data's timing, which the packet
 * hooks see.
 *
 * Zero windows: an established connection to an upstream keeps a way in upstream_socks (tag: its
 * tuple's hash, the one the packet hooks make of its segments) with its upstream and whether each
 * side's window is closed now. A segment leaving with a window of 0 closes ours (our receive buffer
 * is full: the gateway reads too slowly), one arriving with 0 closes the upstream's; the next with
 * a window open reopens it. A closure is counted once, as the kernel's TCPToZeroWindowAdv counts
 * those it advertises, however many segments repeat it. upstream_closed counts the windows closed
 * now, so that while none is, a segment with an open window costs no lookup.
 *
 * Stalled streams: the same way's entry in upstream_streams holds when new data last arrived and
 * last left (the coarse monotonic clock, in ms), how many arrivals since our last data came a pause
 * of UP_STREAM_PAUSE_MS or more apart and how many bytes they brought (a stream's events are many
 * and small, a response's flights few and large), and whether the upstream sent its FIN. User
 * space reads it every second and judges which connections wait for data that does not come
 * (probe/upstream). So each segment carrying data or a FIN whose remote port is a target's
 * (upstream_ports) costs one lookup in upstream_socks; the entry is written only for a connection
 * to an upstream: its sequence numbers for each new segment, its clocks when the millisecond changed.
 *
 * How a connect ends is told by the error the kernel gave the socket when it closed in SYN_SENT
 * (sk_err, set before the change to CLOSE): ECONNREFUSED for a RST answering the SYN (the kernel
 * turns every RST in SYN_SENT into that), ETIMEDOUT when the SYN retries ran out, a host or network
 * error for an ICMP error, none when the caller closed the socket first (a connect timeout of its own).
 *
 * Counters and histograms are plain arrays updated atomically: a few updates per connection, never
 * per packet, so sharing a line between CPUs costs nothing that matters, and a twin copy or a
 * softirq interrupting a handler on the same CPU cannot lose an update.
 *
 * Shared with Java (probe/upstream): struct upstream_target, struct upstream_stream, enum
 * upstream_stat, enum upstream_hist.
 */
#ifndef TCPINSPECT_PROBE_UPSTREAM_H
#define TCPINSPECT_PROBE_UPSTREAM_H

#include "lib/probe.h"
#include "lib/flow.h"
#include "lib/hist.h"
#include "lib/sockets.h"
#include "lib/packet.h"

#define UPSTREAM_MAX 16         /* upstreams (names) */
#define UPSTREAM_TARGETS_MAX 64 /* their addresses and prefixes */

struct upstream_target {
	__u8 addr[16];   /* network byte order; an IPv4 address in the first 4 bytes */
	__u16 family;    /* FLOW_AF_INET or FLOW_AF_INET6 */
	__u16 port;      /* host byte order; 0: any port */
	__u8 prefix_len; /* leading bits of addr a remote address must share */
	__u8 upstream;   /* index of the upstream it belongs to */
	__u16 pad;
};

enum upstream_stat {
	UP_STAT_CONNECTS = 0,        /* connects started (SYN_SENT) */
	UP_STAT_ESTABLISHED = 1,     /* ... that reached ESTABLISHED */
	UP_STAT_REFUSED = 2,         /* ... answered by a RST (ECONNREFUSED) */
	UP_STAT_TIMED_OUT = 3,       /* ... whose SYN retries ran out (ETIMEDOUT) */
	UP_STAT_UNREACHABLE = 4,     /* ... ended by an ICMP error (host or network unreachable) */
	UP_STAT_ABANDONED = 5,       /* ... closed by the caller before the handshake ended */
	UP_STAT_OTHER_ERROR = 6,     /* ... ended with another error */
	UP_STAT_FAILED_IN_A_ROW = 7, /* connects that failed since the last one that succeeded (a level, not a count) */
	UP_STAT_RETRANSMITS = 8,     /* segments retransmitted (tcp_retransmit_skb) */
	UP_STAT_RESETS_RECEIVED = 9,
	UP_STAT_RESETS_SENT = 10,
	UP_STAT_ENDED = 11,          /* established connections that ended */
	UP_STAT_BYTES_SENT = 12,     /* bytes the upstream acknowledged, of connections that ended */
	UP_STAT_BYTES_RECEIVED = 13, /* bytes received, of connections that ended */
	UP_STAT_SEGS_SENT = 14,      /* segments sent, of connections that ended */
	UP_STAT_SEGS_RETRANSMITTED = 15, /* segments retransmitted, of connections that ended */
	UP_STAT_HANDSHAKE_US = 16,   /* sum of the handshake latencies (exact, beside the histogram) */
	UP_STAT_RTT_US = 17,         /* sum of the smoothed RTTs at the end of connections */
	UP_STAT_RTTVAR_US = 18,      /* sum of their mean deviations (the spread) */
	UP_STAT_ZERO_WINDOWS_SENT = 19,     /* our receive window closed (we advertised 0) */
	UP_STAT_ZERO_WINDOWS_RECEIVED = 20, /* the upstream's closed */
	UP_STAT_SOCKETS_UNTRACKED = 21,     /* connections whose windows went unwatched: upstream_socks was full */
	UP_STAT_MAX = 22,
};

enum upstream_hist {
	UP_HIST_HANDSHAKE = 0, /* SYN_SENT to ESTABLISHED, microseconds */
	UP_HIST_RTT = 1,       /* smoothed RTT when an established connection ends, microseconds */
	UP_HIST_MAX = 2,
};

/* Per way of upstream_socks (set * SLOT_WAYS + way), what a stall is judged by; zeroed when the
 * way takes a connection. Only new data counts: a segment that ends at or before the newest data
 * seen that way is a retransmission (or a keepalive's or window probe's byte). Written by the
 * packet hooks without atomics: the two directions write different fields but for arrivals and
 * received_bytes, where a lost update only delays a stream's recognition. */
struct upstream_stream {
	__u32 received_ms;    /* clock (ms, mod 2^32, never 0) when new data last arrived; 0: none yet */
	__u32 sent_ms;        /* ... when our new data last left */
	__u32 received_end;   /* sequence number after the upstream's newest data; 0: none yet */
	__u32 sent_end;       /* ... after ours */
	__u32 received_bytes; /* the upstream's new data since our last new data, bytes (saturates) */
	__u16 arrivals;       /* its arrivals since our last new data, UP_STREAM_PAUSE_MS apart or more
			       * (saturates); 0: our data was the last to move */
	__u8 fin;             /* the upstream sent its FIN: it has nothing more to send */
	__u8 pad;
};

#define UP_STREAM_PAUSE_MS 10 /* a pause in the arrivals that makes the next one another of a stream's events */

PROBE_SWITCH(upstream);
SHARED_WITH_JAVA(struct upstream_target, upstream_target);
SHARED_WITH_JAVA(struct upstream_stream, upstream_stream);
SHARED_WITH_JAVA(enum upstream_stat, upstream_stat);
SHARED_WITH_JAVA(enum upstream_hist, upstream_hist);

const volatile struct upstream_target upstream_targets[UPSTREAM_TARGETS_MAX] = {};
const volatile __u32 upstream_target_count = 0;
/* Bit n of the 65,536: some target has port n (every bit when a target has no port). A segment whose
 * remote port has no bit is no upstream connection's, and costs no lookup. */
const volatile __u64 upstream_ports[1024] = {};

/* Index upstream * UP_STAT_MAX + stat. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPSTREAM_MAX * UP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} upstream_stats SEC(".maps");

/* Index (upstream * UP_HIST_MAX + hist) * HIST_BUCKETS + bucket. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPSTREAM_MAX * UP_HIST_MAX * HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} upstream_hist SEC(".maps");

#define UP_SOCK_SET_BITS 10 /* 1,024 sets of 4 ways: 4,096 connections to upstreams at once */
#define UP_SOCK_UPSTREAM 0xff /* stamp: upstream + 1 */
#define UP_SOCK_OURS 0x100    /* stamp: our window is closed */
#define UP_SOCK_THEIRS 0x200  /* stamp: the upstream's is */
#define UP_SOCK_SINCE 16      /* stamp: jiffies at ESTABLISHED from this bit on (the oldest way goes first) */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << UP_SOCK_SET_BITS);
	__type(key, __u32);
	__type(value, struct slot_set);
} upstream_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOT_WAYS << UP_SOCK_SET_BITS);
	__type(key, __u32);
	__type(value, struct upstream_stream);
} upstream_streams SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} upstream_closed SEC(".maps");

/* The upstream a connection's remote end belongs to, or -1: the first target that matches. */
static __always_inline int upstream_of(const struct flow *flow)
{
	const __u32 *remote = (const __u32 *)flow->raddr;

	for (int i = 0; i < UPSTREAM_TARGETS_MAX; i++) {
		if (i >= upstream_target_count)
			break;
		const volatile struct upstream_target *t = &upstream_targets[i];

		if (t->family != flow->family || (t->port && t->port != flow->rport))
			continue;
		const volatile __u32 *want = (const volatile __u32 *)t->addr;
		int bits = t->prefix_len;
		bool match = true;

		for (int w = 0; w < 4; w++) {
			int left = bits - 32 * w;

			if (left <= 0)
				break;
			__u32 mask = left >= 32 ? 0xffffffff : bpf_htonl(0xffffffffu << (32 - left));

			if ((remote[w] ^ want[w]) & mask) {
				match = false;
				break;
			}
		}
		if (match)
			return t->upstream < UPSTREAM_MAX ? t->upstream : -1;
	}
	return -1;
}

static __always_inline void upstream_add(int upstream, enum upstream_stat stat, __u64 n)
{
	__u32 slot = upstream * UP_STAT_MAX + stat;
	__u64 *v = bpf_map_lookup_elem(&upstream_stats, &slot);

	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void upstream_set(int upstream, enum upstream_stat stat, __u64 n)
{
	__u32 slot = upstream * UP_STAT_MAX + stat;
	__u64 *v = bpf_map_lookup_elem(&upstream_stats, &slot);

	if (v)
		*v = n;
}

static __always_inline void upstream_observe(int upstream, enum upstream_hist hist, __u64 us)
{
	__u32 slot = (upstream * UP_HIST_MAX + hist) * HIST_BUCKETS + hist_bucket_outlined(us);
	__u64 *v = bpf_map_lookup_elem(&upstream_hist, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void upstream_closed_add(__s64 n)
{
	__u32 zero = 0;
	__s64 *closed = bpf_map_lookup_elem(&upstream_closed, &zero);

	if (closed && n)
		__sync_fetch_and_add(closed, n);
}

static __always_inline __s64 upstream_windows_closed(__u64 stamp)
{
	return ((stamp & UP_SOCK_OURS) ? 1 : 0) + ((stamp & UP_SOCK_THEIRS) ? 1 : 0);
}

/*
 * A way gives up its connection: the windows it counted as closed are closed no longer. The stamp
 * is emptied in one atomic step, so that a packet hook setting or clearing a bit on another CPU at
 * that moment is either in the bits subtracted here or sees the way gone (upstream_on_segment).
 */
static __always_inline void upstream_sock_free(struct slot_way *w)
{
	w->tag = 0;
	upstream_closed_add(-upstream_windows_closed(__sync_fetch_and_and(&w->stamp, 0)));
}

/* A connection's tag in upstream_socks: its tuple's hash, as the packet hooks make it (never 0). */
static __always_inline __u64 upstream_sock_tag(const struct flow *flow)
{
	struct pkt_tuple t FLOWSLOT_KEY_ALIGNED;

	tuple_of_flow(flow, &t);
	return flowslot_hash(&t, sizeof(t) / 8);
}

static __always_inline struct slot_way *upstream_sock_find(__u64 tag)
{
	__u32 index = flowslot_set(tag, UP_SOCK_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&upstream_socks, &index);

	return set ? slot_find(set, tag) : NULL;
}

static __always_inline void upstream_sock_established(__u64 tag, int up)
{
	__u32 index = flowslot_set(tag, UP_SOCK_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&upstream_socks, &index);

	if (!set)
		return;
	int way = slot_take_index(set, tag);
	struct slot_way *w = &set->way[way];
	__u32 stream_index = index * SLOT_WAYS + way;
	struct upstream_stream *stream = bpf_map_lookup_elem(&upstream_streams, &stream_index);

	if (w->tag && w->tag != tag) {
		int pushed = (int)(w->stamp & UP_SOCK_UPSTREAM) - 1;

		if (pushed >= 0 && pushed < UPSTREAM_MAX)
			upstream_add(pushed, UP_STAT_SOCKETS_UNTRACKED, 1);
	}
	upstream_sock_free(w); /* whatever it held, a bit a late packet left on a free way included */
	if (stream)
		__builtin_memset(stream, 0, sizeof(*stream));
	/* The stream and the stamp before the tag: a packet hook finds the way by its tag, and must find it whole. */
	w->stamp = (bpf_jiffies64() << UP_SOCK_SINCE) | (__u64)(up + 1);
	/* The compiler keeps the two stores in order, and x86-64 does too. On a CPU that may not, a
	 * hook seeing the tag first could leave upstream_closed one too high (each segment then pays
	 * a lookup), nothing worse. */
	asm volatile("" ::: "memory");
	w->tag = tag;
}

/* Frees the connection's way; false when it has none (never established from here, or pushed out). */
static __always_inline bool upstream_sock_ended(__u64 tag)
{
	struct slot_way *w = upstream_sock_find(tag);

	if (!w)
		return false;
	upstream_sock_free(w);
	return true;
}

/*
 * Whether a socket's connection is one this host opened to an upstream: its connect is under way
 * (SYN_SENT), or it was established from there and still has its way. A connection an upstream's
 * address opened to this host (a target without a port matches it too) is none.
 */
static __always_inline bool upstream_sock_outgoing(const struct sock *sk, const struct flow *flow)
{
	return sk->__sk_common.skc_state == TCP_SYN_SENT || upstream_sock_find(upstream_sock_tag(flow));
}

/* The outcome of a connect that closed in SYN_SENT, from the error the kernel gave the socket. */
static __always_inline enum upstream_stat upstream_failure(int err)
{
	switch (err) {
	case 0:
		return UP_STAT_ABANDONED;
	case 111: /* ECONNREFUSED */
		return UP_STAT_REFUSED;
	case 110: /* ETIMEDOUT */
		return UP_STAT_TIMED_OUT;
	case 113: /* EHOSTUNREACH */
	case 101: /* ENETUNREACH */
	case 112: /* EHOSTDOWN */
	case 100: /* ENETDOWN */
		return UP_STAT_UNREACHABLE;
	default:
		return UP_STAT_OTHER_ERROR;
	}
}

/*
 * The state changes of a connection to an upstream: its start (SYN_SENT; the shared handler took
 * the socket's record, and the clock is read here if no other probe needed it), how its connect
 * ended, and the end of an established one (its RTT, bytes and segments).
 */
static __always_inline void upstream_on_state(struct state_change *c)
{
	if (!upstream_enabled || !upstream_target_count)
		return;
	int old = c->oldstate, new = c->newstate;
	bool start = new == TCP_SYN_SENT;
	bool connect_ended = old == TCP_SYN_SENT;
	/* An established connection ends once: when its socket closes (CLOSE from FIN_WAIT2 as it
	 * goes to TIME_WAIT, from LAST_ACK, CLOSING, or straight from ESTABLISHED on a reset), so
	 * that what it sent and retransmitted after the application closed it is in. */
	bool ended = new == TCP_CLOSE && old != TCP_SYN_SENT && old != TCP_SYN_RECV && old != TCP_LISTEN;

	if (!start && !connect_ended && !ended)
		return;
	struct flow flow = {};
	const struct tcp_sock *tcp = flow_of_sock_btf(c->sk, &flow);
	int up = upstream_of(&flow);

	if (up < 0)
		return;
	if (start) {
		struct sock_way *w = c->looked_up ? c->way : state_sock_start(c, true);

		if (w && !w->start_ns)
			w->start_ns = state_now(c) & SOCK_START_MASK;
		upstream_add(up, UP_STAT_CONNECTS, 1);
		return;
	}
	if (connect_ended) {
		if (new == TCP_ESTABLISHED) {
			struct sock_way *w = state_sock(c);

			upstream_add(up, UP_STAT_ESTABLISHED, 1);
			upstream_set(up, UP_STAT_FAILED_IN_A_ROW, 0);
			upstream_sock_established(upstream_sock_tag(&flow), up);
			if (w && w->start_ns && tcp) {
				__u64 latency = (tcp->tcp_mstamp * 1000 - w->start_ns) & SOCK_START_MASK;

				if (latency < SOCK_START_MASK / 2) {
					upstream_observe(up, UP_HIST_HANDSHAKE, latency / 1000);
					upstream_add(up, UP_STAT_HANDSHAKE_US, latency / 1000);
				}
			}
			return;
		}
		if (new == TCP_CLOSE) {
			int err = c->sk->sk_err;
			/* No error and no SYN ever sent: connect() failed before sending (no local port
			 * left, no route): not the caller giving up. */
			enum upstream_stat how = !err && tcp && !tcp->segs_out ? UP_STAT_OTHER_ERROR : upstream_failure(err);

			upstream_add(up, how, 1);
			upstream_add(up, UP_STAT_FAILED_IN_A_ROW, 1);
		}
		return;
	}
	if (!upstream_sock_ended(upstream_sock_tag(&flow)) || !tcp)
		return; /* not a connection established from here (or its way was pushed out: counted) */
	__u64 srtt = tcp->srtt_us >> 3, rttvar = tcp->mdev_us >> 2;

	upstream_add(up, UP_STAT_ENDED, 1);
	upstream_add(up, UP_STAT_BYTES_SENT, tcp->bytes_acked);
	upstream_add(up, UP_STAT_BYTES_RECEIVED, tcp->bytes_received);
	upstream_add(up, UP_STAT_SEGS_SENT, tcp->segs_out);
	upstream_add(up, UP_STAT_SEGS_RETRANSMITTED, tcp->total_retrans);
	if (srtt) {
		upstream_observe(up, UP_HIST_RTT, srtt);
		upstream_add(up, UP_STAT_RTT_US, srtt);
		upstream_add(up, UP_STAT_RTTVAR_US, rttvar);
	}
}

/*
 * A socket's upstream outside a state change (the reset and retransmit tracepoints), or -1: only
 * for connections this host opens or opened to it (upstream_sock_outgoing).
 */
static __always_inline int upstream_of_sock(const struct sock *sk)
{
	if (!upstream_enabled || !upstream_target_count || !sk)
		return -1;
	if (!netns_wanted(sock_netns_btf(sk)))
		return -1;
	struct flow flow = {};

	flow_addrs_of_common(&sk->__sk_common, &flow);
	int up = upstream_of(&flow);

	if (up < 0)
		return -1;
	const struct tcp_sock *tcp = tcp_sock_of(sk);

	if (!tcp)
		return -1;
	flow.lport = bpf_ntohs(tcp->inet_conn.icsk_inet.inet_sport);
	return upstream_sock_outgoing(sk, &flow) ? up : -1;
}

/* The coarse monotonic clock in ms (mod 2^32), never 0: 0 marks "never" in upstream_stream. */
static __always_inline __u32 upstream_clock_ms(void)
{
	__u32 ms = (__u32)(bpf_ktime_get_coarse_ns() / 1000000);

	return ms ? ms : 1;
}

/*
 * Data or a FIN of a connection to an upstream, at way index of upstream_socks: when new data last
 * moved each way, and the arrivals that make a stream. Our new data starts a new wait for an answer
 * (arrivals and bytes from 0); the first arrival after it counts 1, each after a pause of
 * UP_STREAM_PAUSE_MS one more. The clocks are written only when they change: most segments of a busy
 * connection arrive within the millisecond of the one before.
 */
static __always_inline void upstream_stream_moved(__u32 index, struct pkt *p, const struct tcphdr *th, bool arriving)
{
	struct upstream_stream *s = bpf_map_lookup_elem(&upstream_streams, &index);

	if (!s)
		return;
	if (arriving && (p->tcp.flags & TCP_FLAG_FIN) && !s->fin)
		s->fin = 1;
	__u32 len = p->tcp.payload_len;

	if (!len)
		return;
	__u32 end = bpf_ntohl(th->seq) + len;
	__u32 now = upstream_clock_ms();

	if (!arriving) {
		if (s->sent_end && (__s32)(end - s->sent_end) <= 0)
			return; /* a retransmission: the wait goes on from the first sending */
		s->sent_end = end;
		if (s->sent_ms != now)
			s->sent_ms = now;
		if (s->arrivals)
			s->arrivals = 0;
		if (s->received_bytes)
			s->received_bytes = 0;
		return;
	}
	if (s->received_end && (__s32)(end - s->received_end) <= 0)
		return; /* the upstream's retransmission: nothing new arrived */
	s->received_end = end;
	s->received_bytes = s->received_bytes + len < s->received_bytes ? 0xffffffff : s->received_bytes + len;
	__u32 last = s->received_ms;

	if (last == now)
		return;
	if (!s->arrivals)
		s->arrivals = 1;
	else if (now - last >= UP_STREAM_PAUSE_MS && s->arrivals < 0xffff)
		s->arrivals++;
	s->received_ms = now;
}

/*
 * A segment on a watched interface, leaving (side UP_SOCK_OURS: the window we advertise) or
 * arriving (UP_SOCK_THEIRS: the upstream's): a window of a connection to an upstream that closes or
 * reopens, and the data and FINs that stalls are judged by. SYNs and resets carry no window that
 * means anything here. The window flags are set and cleared atomically: the two directions of a
 * connection may be on two CPUs at once.
 */
static __always_inline void upstream_on_segment(struct pkt *p, __u64 side)
{
	if (!upstream_enabled || !upstream_target_count)
		return;
	__u8 flags = p->tcp.flags;

	if ((flags & (TCP_FLAG_SYN | TCP_FLAG_RST)) || !(flags & TCP_FLAG_ACK))
		return;
	__u16 remote_port = side == UP_SOCK_THEIRS ? p->tcp.sport : p->tcp.dport;

	if (!((upstream_ports[remote_port >> 6] >> (remote_port & 63)) & 1))
		return; /* no target's port: no upstream connection's segment */
	struct tcphdr *th = pkt_tcp_header(p);

	if (!th)
		return;
	bool zero = th->window == 0;
	bool moves = p->tcp.payload_len || (flags & TCP_FLAG_FIN);

	if (!zero && !moves) {
		__u32 zero_key = 0;
		__s64 *closed = bpf_map_lookup_elem(&upstream_closed, &zero_key);

		if (!closed || *closed <= 0)
			return; /* a bare ACK, and every window of every upstream connection is open */
	}
	__u64 tag = pkt_tuple_hash(p);

	if (!tag)
		return;
	__u32 index = flowslot_set(tag, UP_SOCK_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&upstream_socks, &index);
	int way = set ? slot_index(set, tag) : -1;

	if (way < 0)
		return;
	struct slot_way *w = &set->way[way & (SLOT_WAYS - 1)];
	int up = (int)(w->stamp & UP_SOCK_UPSTREAM) - 1;

	if (up < 0 || up >= UPSTREAM_MAX)
		return;
	if (moves)
		upstream_stream_moved(index * SLOT_WAYS + way, p, th, side == UP_SOCK_THEIRS);
	if (zero) {
		if (w->stamp & side)
			return; /* closed already: a repeat, or a probe's answer */
		if (!(__sync_fetch_and_or(&w->stamp, side) & side)) {
			upstream_add(up, side == UP_SOCK_OURS ? UP_STAT_ZERO_WINDOWS_SENT : UP_STAT_ZERO_WINDOWS_RECEIVED, 1);
			upstream_closed_add(1);
			/* The connection ended on another CPU meanwhile: take the bit back, unless its
			 * free already did (it empties the stamp and subtracts what it held). */
			if (w->tag != tag && (__sync_fetch_and_and(&w->stamp, ~side) & side))
				upstream_closed_add(-1);
		}
	} else if (w->stamp & side) {
		if (__sync_fetch_and_and(&w->stamp, ~side) & side)
			upstream_closed_add(-1);
	}
}

static __always_inline void upstream_on_retransmit(const struct sock *sk)
{
	int up = upstream_of_sock(sk);

	if (up >= 0)
		upstream_add(up, UP_STAT_RETRANSMITS, 1);
}

static __always_inline void upstream_on_reset(const struct sock *sk, enum upstream_stat direction)
{
	int up = upstream_of_sock(sk);

	if (up >= 0)
		upstream_add(up, direction, 1);
}

#endif
