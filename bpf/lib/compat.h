/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Tracepoint records as older kernels lay them out, for CO-RE reads on kernels whose vmlinux.h
 * differs from the build machine's: libbpf matches a type named NAME___SUFFIX against the running
 * kernel's NAME, field by field, and bpf_core_type_exists / bpf_core_field_exists pick the layout.
 */
#ifndef TCPINSPECT_COMPAT_H
#define TCPINSPECT_COMPAT_H

/*
 * tcp_event_sk_skb: shared by tcp_retransmit_skb before 6.17 (which added err) and by
 * tcp_send_reset before 6.10 (which switched to sockaddrs and a reason).
 */
struct trace_event_raw_tcp_event_sk_skb___old {
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

#endif
