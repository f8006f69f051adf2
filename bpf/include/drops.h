/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by drops.bpf.c and DropsProbe.java. Keep both in step. */
#ifndef TCPINSPECT_DROPS_H
#define TCPINSPECT_DROPS_H

#include "flow.h"

/* Reasons at or above this share the last slot of the per-reason array. */
#define DROP_REASON_SLOTS 256

/* Per flow and reason (map "flows"): the packet's destination is the local side. */
struct drop_key {
	struct flow flow;
	__u32 reason; /* enum skb_drop_reason of the running kernel */
};

struct drop_event {
	__u64 ts_ns;
	struct flow flow;
	__u32 reason;
	__u32 pad;
};

enum drop_stat {
	DROP_STAT_TOTAL = 0,
	DROP_STAT_RCVQUEUE_FULL = 1, /* sock:sock_rcvqueue_full on TCP sockets */
	DROP_STAT_EVENTS_LOST = 2,
	DROP_STAT_FLOWS_FULL = 3,
	DROP_STAT_MAX = 4,
};

#endif
