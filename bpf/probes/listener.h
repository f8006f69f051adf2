/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * listener: per listening socket a watch was given (--socket PID:PORT), the packets that reach it
 * and the connections it accepted: segments, payload bytes and flags. A socket filter
 * (SO_ATTACH_BPF) on the listener, which the kernel copies to every connection the listener
 * accepts, so that exactly that service's traffic is counted, whatever the interface, without a
 * packet hook. The kernel runs it in tcp_filter(), after the socket lookup: the segment's data
 * starts at its TCP header (the IP header is already pulled). A socket in TIME_WAIT runs no filter.
 *
 * Observation only: a socket filter's return value is how many bytes of the segment to keep (0:
 * drop); this one always keeps all of it.
 *
 * Shared with Java (probe/listener): enum listener_stat.
 */
#ifndef TCPINSPECT_PROBE_LISTENER_H
#define TCPINSPECT_PROBE_LISTENER_H

#include "lib/probe.h"
#include "lib/maps.h"
#include "lib/packet.h"

#define LISTENER_MAX 16

enum listener_stat {
	LS_STAT_SEGMENTS = 0,
	LS_STAT_PAYLOAD_BYTES = 1,
	LS_STAT_SYN = 2,      /* SYN without ACK: a connection asked for */
	LS_STAT_FIN = 3,
	LS_STAT_RST = 4,
	LS_STAT_PURE_ACK = 5, /* ACK only, no payload */
	LS_STAT_DATA = 6,     /* segments with payload */
	LS_STAT_MAX = 7,
};

PROBE_SWITCH(listener);
SHARED_WITH_JAVA(enum listener_stat, listener_stat);

/* The listeners' local ports, in --socket order: a segment's destination port names its listener. */
const volatile __u16 listener_ports[LISTENER_MAX] = {};
const volatile __u32 listener_count = 0;

/* Index listener * LS_STAT_MAX + stat; per CPU, so no lock and no shared line per segment. */
PERCPU_COUNTERS(listener_stats, LISTENER_MAX * LS_STAT_MAX);

static __always_inline void listener_add(__u32 listener, enum listener_stat stat, __u64 n)
{
	__u32 slot = listener * LS_STAT_MAX + stat;
	__u64 *v = bpf_map_lookup_elem(&listener_stats, &slot);

	/* A socket filter runs in softirq or under the socket's lock, never nested on a CPU. */
	if (v)
		*v += n;
}

static __always_inline void listener_on_segment(struct __sk_buff *skb)
{
	if (!listener_enabled || !listener_count)
		return;
	__u8 th[14];

	if (bpf_skb_load_bytes(skb, 0, th, sizeof(th)) < 0)
		return;
	__u16 dport = ((__u16)th[2] << 8) | th[3];
	__u32 listener = LISTENER_MAX;

	for (__u32 i = 0; i < LISTENER_MAX; i++) {
		if (i >= listener_count)
			break;
		if (listener_ports[i] == dport) {
			listener = i;
			break;
		}
	}
	if (listener >= LISTENER_MAX)
		return;
	__u32 header = (th[12] >> 4) * 4;
	__u32 payload = skb->len > header ? skb->len - header : 0;
	__u8 flags = th[13];

	listener_add(listener, LS_STAT_SEGMENTS, 1);
	listener_add(listener, LS_STAT_PAYLOAD_BYTES, payload);
	if ((flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		listener_add(listener, LS_STAT_SYN, 1);
	if (flags & TCP_FLAG_FIN)
		listener_add(listener, LS_STAT_FIN, 1);
	if (flags & TCP_FLAG_RST)
		listener_add(listener, LS_STAT_RST, 1);
	if (payload)
		listener_add(listener, LS_STAT_DATA, 1);
	else if ((flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST | TCP_FLAG_ACK)) == TCP_FLAG_ACK)
		listener_add(listener, LS_STAT_PURE_ACK, 1);
}

#endif
