/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Helpers shared by the tracepoint probes (vmlinux.h based, CO-RE). */
#ifndef TCPINSPECT_SOCK_HELPERS_H
#define TCPINSPECT_SOCK_HELPERS_H

#include <bpf/bpf_core_read.h>
#include "flow.h"

/* Inode of the network namespace a socket belongs to (what /proc/PID/ns/net links to). */
static __always_inline __u32 sock_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/*
 * The same for BTF-typed tracepoints (tp_btf), whose socket arguments the program may read
 * directly: plain loads instead of a bpf_probe_read_kernel call per field.
 */
static __always_inline __u32 sock_netns_btf(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

/*
 * A socket's addresses and ports (local first) as a flow, read directly in a tp_btf program. A
 * v4-mapped IPv6 socket is IPv4 on the wire and is recorded as IPv4 (see flow_addrs); its IPv4
 * fields hold the addresses. Returns the socket as a tcp_sock (NULL if it is not a full TCP socket),
 * which the helper looks up anyway, so that callers needing TCP fields do not ask again.
 */
static __always_inline const struct tcp_sock *flow_of_sock_btf(const struct sock *sk, struct flow *flow)
{
	const struct sock_common *c = &sk->__sk_common;

	flow->netns = c->skc_net.net->ns.inum;
	flow->family = c->skc_family;
	/* The source port as the classic tracepoint reads it: skc_num is already 0 when a closing socket
	 * has given its port back (inet_put_port runs before the change to CLOSE is traced). */
	const struct tcp_sock *tcp = bpf_skc_to_tcp_sock((void *)sk);

	flow->lport = tcp ? bpf_ntohs(tcp->inet_conn.icsk_inet.inet_sport) : c->skc_num;
	flow->rport = bpf_ntohs(c->skc_dport);
	if (flow->family == FLOW_AF_INET6 && c->skc_v6_rcv_saddr.in6_u.u6_addr32[0] == 0 &&
	    c->skc_v6_rcv_saddr.in6_u.u6_addr32[1] == 0 &&
	    c->skc_v6_rcv_saddr.in6_u.u6_addr32[2] == bpf_htonl(0x0000ffff))
		flow->family = FLOW_AF_INET;
	__u32 *l = (__u32 *)flow->laddr, *r = (__u32 *)flow->raddr;

	if (flow->family == FLOW_AF_INET) {
		l[0] = c->skc_rcv_saddr;
		r[0] = c->skc_daddr;
		return tcp;
	}
	for (int i = 0; i < 4; i++) {
		l[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
		r[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
	}
	return tcp;
}

/*
 * A tp_btf program's argument i as a plain number, e.g. a socket's address to hash: the verifier
 * allows no arithmetic on the typed pointer itself, so the value is read back from the context.
 */
static __always_inline __u64 tp_btf_arg_value(const unsigned long long *ctx, int i)
{
	__u64 value = 0;

	bpf_probe_read_kernel(&value, sizeof(value), &ctx[i]);
	return value;
}

/* Namespace of a packet, through the device it arrived on or leaves by. */
static __always_inline __u32 skb_netns(const struct sk_buff *skb)
{
	return BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
}

/*
 * Copies tracepoint address fields (local first) into a flow. An IPv6 socket carrying IPv4 has
 * v4-mapped addresses (::ffff:a.b.c.d); its flow is IPv4 on the wire and is recorded as IPv4, so
 * it matches what packet hooks see. The tracepoints fill the IPv4 fields for such sockets too.
 */
static __always_inline void flow_addrs(struct flow *flow, __u16 family, const void *l4, const void *r4,
				       const void *l6, const void *r6)
{
	flow->family = family;
	if (family == FLOW_AF_INET6) {
		__u32 prefix[3] = {};

		bpf_probe_read_kernel(prefix, sizeof(prefix), l6);
		if (prefix[0] == 0 && prefix[1] == 0 && prefix[2] == bpf_htonl(0x0000ffff))
			flow->family = FLOW_AF_INET;
	}
	if (flow->family == FLOW_AF_INET) {
		bpf_probe_read_kernel(flow->laddr, 4, l4);
		bpf_probe_read_kernel(flow->raddr, 4, r4);
	} else {
		bpf_probe_read_kernel(flow->laddr, 16, l6);
		bpf_probe_read_kernel(flow->raddr, 16, r6);
	}
}

/* Fills family, address and port from a struct sockaddr_in or sockaddr_in6 stored in a record. */
static __always_inline void flow_from_sockaddr(const void *sa, __u8 *addr, __u16 *port, __u16 *family)
{
	struct sockaddr_in6 s6 = {};

	bpf_probe_read_kernel(&s6, sizeof(s6), sa);
	*family = s6.sin6_family;
	*port = bpf_ntohs(s6.sin6_port);
	if (s6.sin6_family == FLOW_AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&s6;

		__builtin_memcpy(addr, &s4->sin_addr, 4);
	} else {
		__builtin_memcpy(addr, &s6.sin6_addr, 16);
	}
}

/*
 * Looks a key up, inserting init first when it is absent (racing inserts are fine: one wins).
 * NULL only when the map is full, which callers count: a full table is never silent.
 */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
	void *value = bpf_map_lookup_elem(map, key);

	if (value)
		return value;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/*
 * Per-CPU counter array bump. Atomic although per CPU: a program's run can be interrupted on its
 * CPU by a softirq running another program of the same object, or the same code as its twin
 * (twin.h), and a plain increment would lose one of the two. Uncontended, it costs a few cycles.
 */
#define PERCPU_BUMP(map, slot)                                     \
	do {                                                       \
		__u32 __slot = (slot);                             \
		__u64 *__n = bpf_map_lookup_elem(&(map), &__slot); \
		if (__n)                                           \
			__sync_fetch_and_add(__n, 1);              \
	} while (0)

#endif
