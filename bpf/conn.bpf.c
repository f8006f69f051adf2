// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Connection lifecycle from sock:inet_sock_set_state (BTF-typed: the socket is read with plain
 * loads, which costs the connection path far less than the classic tracepoint's record): every
 * TCP state change, connections opened (passive or active) and closed, with duration, bytes in and out and how they ended (FIN, RST
 * sent, RST received, timeout). Resets are noted from tcp_send_reset/tcp_receive_reset.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "conn.h"
#include "sock_helpers.h"
#include "events.h"
#include "flowslots.h"
#include "twin.h"

#define PROTO_TCP 6
#define ETIMEDOUT 110
enum {
	ST_ESTABLISHED = 1, ST_SYN_SENT = 2, ST_SYN_RECV = 3, ST_FIN_WAIT1 = 4, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9,
};

const volatile __u32 target_netns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CONN_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * When each live connection started and how it is ending, in a set-associative table keyed by the
 * socket's address (flowslots.h): a state change finds its socket with one inlined array lookup and
 * no lock. Socket-local storage did the same without a size limit but allocated, locked and freed
 * on every connection (~2 us of a short connection, perf). A connection takes a free way of its
 * set, else the way of the connection that started first (a close that was never seen, or simply
 * the oldest); one pushed out is counted (CONN_STAT_SOCKS_FULL) and its close is not counted.
 */
#define SOCK_SET_BITS 16 /* 65,536 sets of 4 ways: 262,144 live connections in 4 MiB */
#define START_MASK ((1ULL << 56) - 1)

/*
 * A connection's way, laid over struct slot_way: the socket's address is the tag, and the marks
 * sit below the start in the stamp, so that stamps order ways by start.
 */
struct sock_way {
	__u64 sk;            /* the socket's address; 0: free */
	__u64 open : 4;      /* CONN_OPEN_* */
	__u64 end : 4;       /* CONN_END_* noted before the close */
	__u64 start_ns : 56; /* clock at SYN_SENT or SYN_RECV, modulo 2^56 ns (2.2 years); 0 when events
			      * are off (only events carry durations) */
};

_Static_assert(sizeof(struct sock_way) == sizeof(struct slot_way), "sock_way overlays slot_way");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << SOCK_SET_BITS);
	__type(key, __u32);
	__type(value, struct slot_set);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* The socket's way, or NULL if it has none. */
static __always_inline struct sock_way *sock_way_find(__u64 sk_addr)
{
	__u32 index = sockslot_set(sk_addr, SOCK_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&socks, &index);

	return set ? (struct sock_way *)slot_find(set, sk_addr) : NULL;
}

/*
 * A way for a connection starting: its own (a socket connecting again), a free one, or the oldest,
 * whose connection is then pushed out (counted).
 */
static __always_inline struct sock_way *sock_way_take(__u64 sk_addr)
{
	__u32 index = sockslot_set(sk_addr, SOCK_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&socks, &index);

	if (!set)
		return NULL;
	struct slot_way *w = slot_take(set, sk_addr);

	if (w->tag && w->tag != sk_addr)
		PERCPU_BUMP(stats, CONN_STAT_SOCKS_FULL);
	return (struct sock_way *)w;
}

static __always_inline void note_reset(__u64 sk_addr, __u8 end)
{
	struct sock_way *w = sock_way_find(sk_addr);

	if (w && w->end == CONN_END_NONE)
		w->end = end;
}

/* One state change, by whichever twin (twin.h) handles it (second: which; conn keeps nothing per copy). */
static __always_inline int state_change(int second, const struct sock *sk, __u64 sk_addr, int oldstate, int newstate)
{
	if (sk->sk_protocol != PROTO_TCP)
		return 0;
	if (target_netns && sock_netns_btf(sk) != target_netns)
		return 0;
	/* The clock only for what events carry (start, duration, time): the table view needs none. */
	__u64 now = emit_events ? bpf_ktime_get_ns() : 0;
	struct sock_way *info;

	if (newstate == ST_SYN_SENT || newstate == ST_SYN_RECV) {
		/* A socket connects again after a failed attempt: its record starts over. */
		info = sock_way_take(sk_addr);
		if (info) {
			info->sk = sk_addr;
			info->start_ns = now & START_MASK;
			info->open = CONN_OPEN_NONE;
			info->end = CONN_END_NONE;
		}
	} else {
		info = sock_way_find(sk_addr);
	}

	struct conn_event *e = EVENT_RESERVE(events, sizeof(*e), stats, CONN_STAT_EVENTS_LOST);
	__u8 open = CONN_OPEN_NONE, end = CONN_END_NONE;

	if (newstate == ST_ESTABLISHED && (oldstate == ST_SYN_RECV || oldstate == ST_SYN_SENT)) {
		open = oldstate == ST_SYN_RECV ? CONN_OPEN_PASSIVE : CONN_OPEN_ACTIVE;
		PERCPU_BUMP(stats, open == CONN_OPEN_PASSIVE ? CONN_STAT_OPENED_PASSIVE : CONN_STAT_OPENED_ACTIVE);
		if (info)
			info->open = open;
	}
	__u64 duration = 0, bytes_in = 0, bytes_out = 0;

	if (newstate == ST_CLOSE) {
		if (info && info->open != CONN_OPEN_NONE) {
			const struct tcp_sock *tcp = (const struct tcp_sock *)sk;

			end = info->end;
			/* No reset noted: a timeout sets ETIMEDOUT; leaving ESTABLISHED or CLOSE_WAIT
			 * straight for CLOSE is an abort, which sends a RST after this change (so the
			 * tcp_send_reset comes too late to note); anything else went through the FIN states. */
			if (end == CONN_END_NONE) {
				if (sk->sk_err == ETIMEDOUT)
					end = CONN_END_TIMEOUT;
				else if (oldstate == ST_ESTABLISHED || oldstate == ST_CLOSE_WAIT)
					end = CONN_END_RST_SENT;
				else
					end = CONN_END_FIN;
			}
			PERCPU_BUMP(stats, CONN_STAT_CLOSED);
			if (end == CONN_END_RST_SENT || end == CONN_END_RST_RECEIVED)
				PERCPU_BUMP(stats, CONN_STAT_CLOSED_RESET);
			else if (end == CONN_END_TIMEOUT)
				PERCPU_BUMP(stats, CONN_STAT_CLOSED_TIMEOUT);
			duration = (now - info->start_ns) & START_MASK;
			bytes_in = BPF_CORE_READ(tcp, bytes_received);
			bytes_out = BPF_CORE_READ(tcp, bytes_acked);
		}
		if (info)
			info->sk = 0;
	}
	if (!e)
		return 0;

	e->ts_ns = now;
	__builtin_memset(&e->flow, 0, sizeof(e->flow));
	flow_of_sock_btf(sk, &e->flow);
	e->old_state = oldstate;
	e->new_state = newstate;
	e->open = open;
	e->end = end;
	/* Only these changes happen in the calling process (connect, close, shutdown); the rest come
	 * from softirq or timers, where the current task is unrelated, so no pid is claimed. */
	if (newstate == ST_SYN_SENT || newstate == ST_FIN_WAIT1 || newstate == ST_LAST_ACK) {
		e->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	} else {
		e->pid = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	}
	e->pad = 0;
	e->duration_ns = duration;
	e->bytes_in = bytes_in;
	e->bytes_out = bytes_out;
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
	return 0;
}

/* tcpi_conn_state handles each state change; tcpi_conn_twin, its twin, those the kernel skips the first for. */
TWIN_INET_SOCK_SET_STATE(tcpi_conn_state, tcpi_conn_twin, state_change)

/* The reset tracepoints, BTF-typed like the state changes. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcpi_conn_rst_out, const struct sock *sk)
{
	if (sk)
		note_reset(tp_btf_arg_value(ctx, 0), CONN_END_RST_SENT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcpi_conn_rst_in, struct sock *sk)
{
	note_reset(tp_btf_arg_value(ctx, 0), CONN_END_RST_RECEIVED);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
