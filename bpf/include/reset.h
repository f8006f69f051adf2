/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by reset.bpf.c and ResetProbe.java. Keep both in step. */
#ifndef TCPINSPECT_RESET_H
#define TCPINSPECT_RESET_H

#include "flow.h"

#define RESET_SENT 0
#define RESET_RECEIVED 1

struct reset_event {
	__u64 ts_ns;
	struct flow flow;
	__u8 state;     /* TCP state the reset hit; 0 when no socket (e.g. a SYN to a closed port) */
	__u8 direction; /* RESET_SENT or RESET_RECEIVED */
	__u16 pad;
	__u32 reason;   /* enum sk_rst_reason for sent resets where the kernel gives one, else 0 */
};

struct reset_counts {
	__u64 sent;
	__u64 received;
};

enum reset_stat {
	RST_STAT_SENT = 0,
	RST_STAT_RECEIVED = 1,
	RST_STAT_EVENTS_LOST = 2,
	RST_STAT_FLOWS_FULL = 3,
	RST_STAT_MAX = 4,
};

#endif
