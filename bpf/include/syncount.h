/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Layout shared by syncount.bpf.c and its Java side (SynCountProbe). Keep both in step. */
#ifndef TCPINSPECT_SYNCOUNT_H
#define TCPINSPECT_SYNCOUNT_H

/* One per-CPU slot of packet counters (map "counters", key 0). Every field is a __u64. */
struct syn_counters {
	__u64 tcp;       /* well-formed TCP segments */
	__u64 syn;       /* SYN set, ACK clear */
	__u64 synack;    /* SYN and ACK set */
	__u64 fin;       /* FIN set */
	__u64 rst;       /* RST set */
	__u64 ack;       /* pure ACK: ACK only (PSH allowed), no payload */
	__u64 malformed; /* IP or TCP headers impossible or cut short */
};

#endif
