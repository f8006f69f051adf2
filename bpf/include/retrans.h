/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by retrans.bpf.c and RetransProbe.java. Keep both in step. */
#ifndef TCPINSPECT_RETRANS_H
#define TCPINSPECT_RETRANS_H

#include "flow.h"

#define RETRANS_KIND_DATA 0   /* tcp:tcp_retransmit_skb (data, SYN, FIN...) */
#define RETRANS_KIND_SYNACK 1 /* tcp:tcp_retransmit_synack */

/* One ring-buffer record per retransmission. */
struct retrans_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	struct flow flow;
	__u8 state;       /* TCP state (TCP_ESTABLISHED = 1 ...) */
	__u8 kind;        /* RETRANS_KIND_* */
	__u16 pad;
	__s32 err;        /* the retransmit's result (0 = sent); 0 on kernels without the field */
};

/* Per-flow totals (map "flows"). */
struct retrans_counts {
	__u64 data;
	__u64 synack;
};

/* Slots of the per-CPU "stats" array. */
enum retrans_stat {
	STAT_DATA = 0,
	STAT_SYNACK = 1,
	STAT_EVENTS_LOST = 2, /* ring buffer full: event not delivered (counted, not silent) */
	STAT_FLOWS_FULL = 3,  /* flows map full: retransmit counted in totals but not per flow */
	STAT_MAX = 4,
};

#endif
