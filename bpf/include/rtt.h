/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by rtt.bpf.c and RttProbe.java. Keep both in step. */
#ifndef TCPINSPECT_RTT_H
#define TCPINSPECT_RTT_H

#include "flow.h"
#include "hist.h"

/* Per remote address (map "remotes"). */
struct rtt_key {
	__u32 netns;
	__u16 family;
	__u16 pad;
	__u8 raddr[16];
};

struct rtt_remote {
	__u64 samples;
	__u64 last_event_ns;
	__u32 last_srtt_us;
	__u32 min_srtt_us;
	__u32 max_srtt_us;
	__u32 last_cwnd;
};

/* At most one per remote address per second. */
struct rtt_event {
	__u64 ts_ns;
	struct flow flow;
	__u32 srtt_us;
	__u32 cwnd;
	__u32 snd_wnd;
	__u32 rcv_wnd;
};

enum rtt_stat {
	RTT_STAT_SAMPLES = 0,
	RTT_STAT_EVENTS_LOST = 1,
	RTT_STAT_REMOTES_FULL = 2,
	RTT_STAT_MAX = 3,
};

#endif
