/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layouts shared by conn.bpf.c and ConnProbe.java. Keep both in step. */
#ifndef TCPINSPECT_CONN_H
#define TCPINSPECT_CONN_H

#include "flow.h"

#define CONN_OPEN_NONE 0
#define CONN_OPEN_PASSIVE 1 /* accepted: SYN_RECV -> ESTABLISHED */
#define CONN_OPEN_ACTIVE 2  /* connected: SYN_SENT -> ESTABLISHED */

#define CONN_END_NONE 0
#define CONN_END_FIN 1
#define CONN_END_RST_SENT 2
#define CONN_END_RST_RECEIVED 3
#define CONN_END_TIMEOUT 4

/* One event per TCP state change. */
struct conn_event {
	__u64 ts_ns;
	struct flow flow;
	__u8 old_state;
	__u8 new_state;
	__u8 open;       /* CONN_OPEN_* on the change to ESTABLISHED */
	__u8 end;        /* CONN_END_* on the change to CLOSE of an opened connection */
	__u32 pid;       /* 0 when the change did not happen in the process's own context */
	char comm[16];
	__u32 pad;         /* explicit: keeps the u64s below 8-byte aligned */
	__u64 duration_ns; /* on close: since SYN_SENT or SYN_RECV */
	__u64 bytes_in;    /* on close: tcp_sock bytes_received */
	__u64 bytes_out;   /* on close: tcp_sock bytes_acked */
};

enum conn_stat {
	CONN_STAT_OPENED_PASSIVE = 0,
	CONN_STAT_OPENED_ACTIVE = 1,
	CONN_STAT_CLOSED = 2,
	CONN_STAT_CLOSED_RESET = 3,
	CONN_STAT_CLOSED_TIMEOUT = 4,
	CONN_STAT_EVENTS_LOST = 5,
	CONN_STAT_SOCKS_FULL = 6, /* open connections pushed out of the socket table (their close is not counted) */
	CONN_STAT_MAX = 7,
};

#endif
