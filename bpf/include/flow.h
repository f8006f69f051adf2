/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Flow identity shared by the tracepoint probes and their Java side (dev.tcpinspect.probe.Flow).
 * Addresses are in network byte order; an IPv4 address fills the first 4 bytes.
 */
#ifndef TCPINSPECT_FLOW_H
#define TCPINSPECT_FLOW_H

#define FLOW_AF_INET 2
#define FLOW_AF_INET6 10

struct flow {
	__u32 netns;    /* inode number of the network namespace */
	__u16 family;   /* FLOW_AF_INET or FLOW_AF_INET6 */
	__u16 lport;    /* local port, host byte order */
	__u16 rport;    /* remote port, host byte order */
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

#endif
