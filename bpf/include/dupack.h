/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by dupack.bpf.c and DupAckProbe.java. Keep both in step. */
#ifndef TCPINSPECT_DUPACK_H
#define TCPINSPECT_DUPACK_H

#include "tuple.h"

/*
 * Per flow (map "detector", key struct pkt_tuple): what the last incoming segment said. Counts
 * live apart (map "flows": pkt_tuple -> __u64 dup ACKs), only for flows that had one.
 */
struct dupack_state {
	__u32 next_seq;   /* highest sequence number the peer has sent up to, plus one */
	__u32 last_ack;
	__u16 last_window;
	__u8 valid;
	__u8 pad;
};

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
	DUPACK_STAT_MAX = 3,
};

#endif
