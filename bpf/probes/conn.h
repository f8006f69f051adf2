/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * conn: connection lifecycle from sock:inet_sock_set_state. Every TCP state change as an event;
 * connections opened (passive: accepted, active: made from here) and closed, with duration, bytes
 * in and out and how they ended (FIN, RST sent, RST received, timeout). Resets are noted from
 * tcp:tcp_send_reset and tcp:tcp_receive_reset, before the close they cause.
 *
 * Shared with Java (probe/conn): struct conn_event, enum conn_open, enum conn_end, enum conn_stat.
 */
#ifndef TCPINSPECT_PROBE_CONN_H
#define TCPINSPECT_PROBE_CONN_H

#include "lib/probe.h"
#include "lib/flow.h"
#include "lib/maps.h"
#include "lib/events.h"
#include "lib/sockets.h"

enum conn_open {
	CONN_OPEN_NONE = 0,
	CONN_OPEN_PASSIVE = 1, /* accepted: SYN_RECV -> ESTABLISHED */
	CONN_OPEN_ACTIVE = 2,  /* connected: SYN_SENT -> ESTABLISHED */
};

enum conn_end {
	CONN_END_NONE = 0,
	CONN_END_FIN = 1,
	CONN_END_RST_SENT = 2,
	CONN_END_RST_RECEIVED = 3,
	CONN_END_TIMEOUT = 4,
};

/* One event per TCP state change. */
struct conn_event {
	__u64 ts_ns;
	struct flow flow;
	__u8 old_state;
	__u8 new_state;
	__u8 open;       /* enum conn_open, on the change to ESTABLISHED */
	__u8 end;        /* enum conn_end, on the change to CLOSE of an opened connection */
	__u32 pid;       /* 0 when the change did not happen in the process's own context */
	char comm[16];
	__u32 pad;         /* explicit: keeps the u64s below 8-byte aligned */
	__u64 duration_ns; /* on close: since SYN_SENT or SYN_RECV */
	__u64 bytes_in;    /* on close: tcp_sock bytes_received */
	__u64 bytes_out;   /* on close: tcp_sock bytes_acked */
};

enum conn_stat {
	CONN_STAT_OPENED_PASSIVE = 0,
	CONN_STAT_OPENED_ACTIVE = 1,
	CONN_STAT_CLOSED = 2,
	CONN_STAT_CLOSED_RESET = 3,
	CONN_STAT_CLOSED_TIMEOUT = 4,
	CONN_STAT_EVENTS_LOST = 5,
	CONN_STAT_SOCKS_FULL = 6, /* open connections pushed out of the socket table (their close is not counted) */
	CONN_STAT_MAX = 7,
};

#define CONN_ETIMEDOUT 110

PROBE_SWITCH(conn);
SHARED_WITH_JAVA(struct conn_event, conn_event);
SHARED_WITH_JAVA(enum conn_open, conn_open);
SHARED_WITH_JAVA(enum conn_end, conn_end);
SHARED_WITH_JAVA(enum conn_stat, conn_stat);
/* One set of counters per twin copy (maps.h PERCPU_ADD_COPY). */
PERCPU_COUNTERS(conn_stats, 2 * CONN_STAT_MAX);
EVENT_RING(conn_events, 4 << 20);

/* The reset tracepoints: a reset sent or received before the close says how the connection ended. */
static __always_inline void conn_on_reset(__u64 sk_addr, enum conn_end end)
{
	if (!conn_enabled)
		return;
	struct sock_way *w = sock_way_of(sk_addr);

	if (w && w->end == CONN_END_NONE)
		w->end = end;
}

/* How an opened connection ended, at its change to CLOSE. */
static __always_inline enum conn_end conn_end_of(const struct state_change *c, const struct sock_way *w)
{
	if (w->end != CONN_END_NONE)
		return w->end;
	/* No reset noted: a timeout sets ETIMEDOUT; leaving ESTABLISHED or CLOSE_WAIT straight for
	 * CLOSE is an abort, which sends a RST after this change (so the tcp_send_reset comes too late
	 * to note); anything else went through the FIN states. */
	if (c->sk->sk_err == CONN_ETIMEDOUT)
		return CONN_END_TIMEOUT;
	if (c->oldstate == TCP_ESTABLISHED || c->oldstate == TCP_CLOSE_WAIT)
		return CONN_END_RST_SENT;
	return CONN_END_FIN;
}

/*
 * Every TCP state change of a wanted namespace. The shared handler (tcpinspect.bpf.c) has taken
 * the socket's record at SYN_SENT and SYN_RECV and frees it after CLOSE.
 */
static __always_inline void conn_on_state(struct state_change *c)
{
	if (!conn_enabled)
		return;
	enum conn_open open = CONN_OPEN_NONE;
	enum conn_end end = CONN_END_NONE;
	__u64 duration = 0, bytes_in = 0, bytes_out = 0;

	if (c->pushed_out)
		PERCPU_ADD_COPY(conn_stats, CONN_STAT_SOCKS_FULL, CONN_STAT_MAX, c->second);
	if (c->newstate == TCP_ESTABLISHED && (c->oldstate == TCP_SYN_RECV || c->oldstate == TCP_SYN_SENT)) {
		struct sock_way *w = state_sock(c);

		open = c->oldstate == TCP_SYN_RECV ? CONN_OPEN_PASSIVE : CONN_OPEN_ACTIVE;
		PERCPU_ADD_COPY(conn_stats, open == CONN_OPEN_PASSIVE ? CONN_STAT_OPENED_PASSIVE : CONN_STAT_OPENED_ACTIVE,
				CONN_STAT_MAX, c->second);
		if (w)
			w->open = open;
	} else if (c->newstate == TCP_CLOSE) {
		struct sock_way *w = state_sock(c);

		if (w && w->open != CONN_OPEN_NONE) {
			const struct tcp_sock *tcp = (const struct tcp_sock *)c->sk;

			end = conn_end_of(c, w);
			PERCPU_ADD_COPY(conn_stats, CONN_STAT_CLOSED, CONN_STAT_MAX, c->second);
			if (end == CONN_END_RST_SENT || end == CONN_END_RST_RECEIVED)
				PERCPU_ADD_COPY(conn_stats, CONN_STAT_CLOSED_RESET, CONN_STAT_MAX, c->second);
			else if (end == CONN_END_TIMEOUT)
				PERCPU_ADD_COPY(conn_stats, CONN_STAT_CLOSED_TIMEOUT, CONN_STAT_MAX, c->second);
			if (emit_events) {
				duration = state_since_start(c, w);
				bytes_in = BPF_CORE_READ(tcp, bytes_received);
				bytes_out = BPF_CORE_READ(tcp, bytes_acked);
			}
		}
	}
	if (!emit_events)
		return;
	struct conn_event *e = EVENT_RESERVE(conn_events, sizeof(*e), conn_stats, CONN_STAT_EVENTS_LOST + (c->second ? CONN_STAT_MAX : 0));

	if (!e)
		return;
	e->ts_ns = state_now(c);
	__builtin_memset(&e->flow, 0, sizeof(e->flow));
	e->flow.netns = c->netns;
	flow_of_sock_btf(c->sk, &e->flow);
	e->old_state = c->oldstate;
	e->new_state = c->newstate;
	e->open = open;
	e->end = end;
	/* Only these changes happen in the calling process (connect, close, shutdown); the rest come
	 * from softirq or timers, where the current task is unrelated, so no pid is claimed. */
	if (c->newstate == TCP_SYN_SENT || c->newstate == TCP_FIN_WAIT1 || c->newstate == TCP_LAST_ACK) {
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
	bpf_ringbuf_submit(e, events_wakeup_flag(sizeof(*e)));
}

#endif
