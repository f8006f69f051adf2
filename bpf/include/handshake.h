/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by handshake.bpf.c and HandshakeProbe.java. Keep both in step. */
#ifndef TCPINSPECT_HANDSHAKE_H
#define TCPINSPECT_HANDSHAKE_H

#include "flow.h"
#include "hist.h"

#define HS_PASSIVE 0 /* first SYN seen on a watched interface -> ESTABLISHED */
#define HS_ACTIVE 1  /* SYN_SENT -> ESTABLISHED */
#define HS_KINDS 2

/* Per port and kind (map "port_hist"): accepted connections by local port, outgoing ones by remote port. */
struct hs_port_key {
	__u16 port; /* local for HS_PASSIVE, remote for HS_ACTIVE */
	__u8 kind;
	__u8 pad;
	__u32 bucket;
};

struct hs_event {
	__u64 ts_ns;
	__u64 latency_us;
	struct flow flow;
	__u32 kind; /* HS_PASSIVE or HS_ACTIVE */
};

enum hs_stat {
	HS_STAT_PASSIVE_UNMATCHED = 0, /* accepted with no SYN seen on a watched interface */
	HS_STAT_EVENTS_LOST = 1,
	HS_STAT_PORTS_FULL = 2,
	HS_STAT_MAX = 3,
};

#endif
