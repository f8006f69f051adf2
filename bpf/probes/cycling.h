/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cycling: remotes whose connections end abnormally, the first answer to a gateway's "is this
 * client or this upstream misbehaving?". Per remote address, per CPU and without locks
 * (slottable.h): connections that ended without a FIN exchange (reset by either side, aborted, or a
 * connect refused), connections closed with no data either way, and resets sent to or received from
 * it. User space turns them into rates every second and raises an alert for a remote above the
 * threshold. A connection that carried data and ended with FINs (HTTP/1.0 style) is never counted:
 * a normal close costs one state test and a read of two byte counters.
 *
 * Shared with Java (probe/cycling): struct cycling_counts, enum cycling_stat.
 */
#ifndef TCPINSPECT_PROBE_CYCLING_H
#define TCPINSPECT_PROBE_CYCLING_H

#include "lib/probe.h"
#include "lib/flow.h"
#include "lib/maps.h"
#include "lib/slottable.h"
#include "lib/sockets.h"
#include "lib/skb.h"

enum cycling_stat {
	CYCLING_STAT_REMOTES_UNTRACKED = 0, /* ends and resets under no remote (its set was full) */
	CYCLING_STAT_MAX = 1,
};

struct cycling_counts {
	__u64 aborted; /* connections that went to CLOSE from an open state: a reset either way, an abort, a refused connect */
	__u64 empty;   /* connections closed normally that carried no data either way */
	__u64 resets;  /* resets sent to or received from the remote */
};

PROBE_SWITCH(cycling);
SHARED_WITH_JAVA(enum cycling_stat, cycling_stat);
PERCPU_COUNTERS(cycling_stats, CYCLING_STAT_MAX);
SLOT_TABLES(cycling_remotes, struct source_key, struct cycling_counts, 9);

enum cycling_what {
	CYCLING_ABORTED,
	CYCLING_EMPTY,
	CYCLING_RESET,
};

static __always_inline void cycling_count(const struct flow *flow, enum cycling_what what)
{
	struct source_key remote = {.family = flow->family};

	__builtin_memcpy(remote.addr, flow->raddr, 16);
	struct cycling_counts *c = cycling_remotes_slot(&remote);

	if (!c) {
		PERCPU_BUMP(cycling_stats, CYCLING_STAT_REMOTES_UNTRACKED);
		return;
	}
	if (what == CYCLING_ABORTED)
		__sync_fetch_and_add(&c->aborted, 1);
	else if (what == CYCLING_EMPTY)
		__sync_fetch_and_add(&c->empty, 1);
	else
		__sync_fetch_and_add(&c->resets, 1);
}

/*
 * A connection reaching CLOSE. From ESTABLISHED, CLOSE_WAIT, FIN_WAIT1, SYN_RECV or SYN_SENT the
 * kernel only goes there on a reset, an abort or a refused connect; from the others (LAST_ACK,
 * FIN_WAIT2, CLOSING) after a FIN exchange, which counts only when no data went either way.
 */
static __always_inline void cycling_on_state(const struct state_change *c)
{
	if (!cycling_enabled || c->newstate != TCP_CLOSE)
		return;
	int old = c->oldstate;
	enum cycling_what what;

	if (old == TCP_ESTABLISHED || old == TCP_CLOSE_WAIT || old == TCP_FIN_WAIT1 || old == TCP_SYN_RECV ||
	    old == TCP_SYN_SENT) {
		what = CYCLING_ABORTED;
	} else if (old == TCP_LAST_ACK || old == TCP_FIN_WAIT2 || old == TCP_CLOSING) {
		const struct tcp_sock *tp = tcp_sock_of(c->sk);

		/* No data either way: none sent (bytes_sent counts data only), none received but the FIN
		 * (bytes_received is sequence space, where a FIN counts one). */
		if (!tp || tp->bytes_sent > 0 || tp->bytes_received > 1)
			return;
		what = CYCLING_EMPTY;
	} else {
		return;
	}
	struct flow flow = {};

	flow_of_sock_btf(c->sk, &flow);
	cycling_count(&flow, what);
}

/* tp_btf/tcp_send_reset and tcp_receive_reset: a reset to or from the remote. */
static __always_inline void cycling_on_reset(const struct sock *sk, const struct sk_buff *skb)
{
	if (!cycling_enabled)
		return;
	struct flow flow = {};

	if (sk && sock_is_full(sk)) {
		flow.netns = sock_netns_btf(sk);
		flow_of_sock_btf(sk, &flow);
	} else if (skb && skb_tcp_flow(skb, &flow, true)) {
		flow.netns = sk ? sock_netns_btf(sk) : skb_netns(skb);
	} else {
		return;
	}
	if (!netns_wanted(flow.netns))
		return;
	cycling_count(&flow, CYCLING_RESET);
}

#endif
