/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by dupack.bpf.c and DupAckProbe.java. Keep both in step. */
#ifndef TCPINSPECT_DUPACK_H
#define TCPINSPECT_DUPACK_H

#include "tuple.h"

/* Dup ACK counts per flow: map "flows", struct pkt_tuple -> __u64, only for flows that had one. */

struct dupack_event {
	__u64 ts_ns;
	struct pkt_tuple tuple;
	__u32 ack;      /* the repeated acknowledgement number */
	__u16 window;
	__u16 pad;
};

enum dupack_stat {
	DUPACK_STAT_TOTAL = 0,
	DUPACK_STAT_FLOWS_FULL = 1, /* dup ACKs the per-flow table had no room for (still in the total) */
	DUPACK_STAT_EVENTS_LOST = 2,
	DUPACK_STAT_DETECTOR_EVICTED = 3, /* flows pushed out of the detector within a second of their last segment */
	DUPACK_STAT_MAX = 4,
};

#endif
