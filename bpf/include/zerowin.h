/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by zerowin.bpf.c and ZeroWindowProbe.java. Keep both in step. */
#ifndef TCPINSPECT_ZEROWIN_H
#define TCPINSPECT_ZEROWIN_H

#include "tuple.h"

#define ZW_RECEIVED 0 /* a peer advertised a zero window to us (TC ingress) */
#define ZW_SENT 1     /* we advertised a zero window (TC egress) */

struct zw_key {
	struct pkt_tuple tuple;
	__u32 direction;
};

/* Per flow and direction (the drained "flows" tables); a window still closed is not in closed_ns yet. */
struct zw_counts {
	__u64 closures;  /* open -> zero transitions */
	__u64 closed_ns; /* total time spent closed (completed closures) */
};

struct zw_event {
	__u64 ts_ns;
	__u64 closed_ns;       /* on reopening: how long it stayed closed; 0 on closing */
	struct pkt_tuple tuple;
	__u8 direction;
	__u8 reopened;         /* 0: the window just closed; 1: it just opened again */
	__u16 pad;
};

enum zw_stat {
	ZW_STAT_RECEIVED = 0,          /* closures advertised by peers */
	ZW_STAT_SENT = 1,              /* closures we advertised */
	ZW_STAT_SEGMENTS_RECEIVED = 2, /* segments carrying a zero window, from peers */
	ZW_STAT_SEGMENTS_SENT = 3,
	ZW_STAT_EVENTS_LOST = 4,
	/* closures not timed (no room in "closed": not in RECEIVED or SENT either), or closures and
	 * reopenings not under a flow (no room in the flow table) */
	ZW_STAT_FLOWS_FULL = 5,
	ZW_STAT_MAX = 6,
};

#endif
