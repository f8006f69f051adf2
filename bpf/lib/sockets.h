/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * One state change (sock:inet_sock_set_state) as the state handlers see it, and the one record per
 * live connection that they share: conn keeps its open and end marks there, handshake and conn the
 * time the connection started. The record is looked up at most once per state change, whichever
 * probes run (state_sock).
 *
 * The records live in a set-associative table keyed by the socket's address (flowslots.h): one
 * inlined array lookup and no lock per state change. Socket-local storage did the same without a
 * size limit but allocated, locked and freed on every connection. A connection takes a free way of
 * its set, else the way of the connection that started first (a close never seen, or simply the
 * oldest); one pushed out while still open is reported to the probes (pushed_out).
 */
#ifndef TCPINSPECT_SOCKETS_H
#define TCPINSPECT_SOCKETS_H

#include "flowslots.h"

#define SOCK_SET_BITS 16 /* 65,536 sets of 4 ways: 262,144 live connections in 4 MiB */
#define SOCK_START_MASK ((1ULL << 56) - 1)

/* A connection's way, laid over struct slot_way: stamps order ways by start. */
struct sock_way {
	__u64 sk;            /* the socket's address; 0: free */
	__u64 open : 4;      /* conn: enum conn_open, set when the connection is established */
	__u64 end : 4;       /* conn: enum conn_end noted before the close (a reset) */
	__u64 start_ns : 56; /* clock at SYN_SENT or SYN_RECV, modulo 2^56 ns (2.2 years); 0 when no
			      * running probe needs it (conn without events, handshake off) */
};

_Static_assert(sizeof(struct sock_way) == sizeof(struct slot_way), "sock_way overlays slot_way");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << SOCK_SET_BITS);
	__type(key, __u32);
	__type(value, struct slot_set);
} state_socks SEC(".maps");

struct state_change {
	const struct sock *sk;
	__u64 sk_addr;       /* the socket's address as a number (a tag, never dereferenced) */
	int oldstate;
	int newstate;
	int second;          /* 1 in the twin's second copy (twin.h) */
	__u32 netns;
	bool looked_up;
	bool pushed_out;     /* taking a way for this connection pushed out another one still open */
	struct sock_way *way; /* this socket's record, once looked up; NULL when it has none */
	__u64 now;           /* bpf_ktime_get_ns(), read once when first needed (state_now) */
};

static __always_inline __u64 state_now(struct state_change *c)
{
	if (!c->now)
		c->now = bpf_ktime_get_ns();
	return c->now;
}

/* The socket's record, or NULL: looked up once per state change. */
static __always_inline struct sock_way *state_sock(struct state_change *c)
{
	if (c->looked_up)
		return c->way;
	c->looked_up = true;
	__u32 index = sockslot_set(c->sk_addr, SOCK_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&state_socks, &index);

	c->way = set ? (struct sock_way *)slot_find(set, c->sk_addr) : NULL;
	return c->way;
}

/*
 * A record for a connection starting (its own when the socket connects again after a failed
 * attempt, a free one, or the oldest), started afresh; start_ns is set when with_time.
 */
static __always_inline struct sock_way *state_sock_start(struct state_change *c, bool with_time)
{
	c->looked_up = true;
	__u32 index = sockslot_set(c->sk_addr, SOCK_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&state_socks, &index);

	if (!set) {
		c->way = NULL;
		return NULL;
	}
	struct slot_way *w = slot_take(set, c->sk_addr);

	c->pushed_out = w->tag && w->tag != c->sk_addr;
	struct sock_way *s = (struct sock_way *)w;

	s->sk = c->sk_addr;
	s->open = 0;
	s->end = 0;
	s->start_ns = with_time ? state_now(c) & SOCK_START_MASK : 0;
	c->way = s;
	return s;
}

/* Nanoseconds since the record's start (modulo 2^56, as the start is kept). */
static __always_inline __u64 state_since_start(struct state_change *c, const struct sock_way *w)
{
	return (state_now(c) - w->start_ns) & SOCK_START_MASK;
}

/* Frees the socket's record (the connection ended, or no running probe needs it any longer). */
static __always_inline void state_sock_forget(struct state_change *c)
{
	struct sock_way *w = state_sock(c);

	if (w && w->sk == c->sk_addr)
		w->sk = 0;
}

/* The record of a socket named by its address outside a state change (the reset tracepoints). */
static __always_inline struct sock_way *sock_way_of(__u64 sk_addr)
{
	__u32 index = sockslot_set(sk_addr, SOCK_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&state_socks, &index);

	return set ? (struct sock_way *)slot_find(set, sk_addr) : NULL;
}

#endif
