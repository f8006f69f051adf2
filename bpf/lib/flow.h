/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * How flows are identified, and how a flow is read from a socket or a tracepoint record. Shared
 * with Java (probe/Flow.java: struct flow and struct pkt_tuple, checked against this object's BTF
 * by a test). Addresses are in network byte order; an IPv4 address fills the first 4 bytes.
 */
#ifndef TCPINSPECT_FLOW_H
#define TCPINSPECT_FLOW_H

#define FLOW_AF_INET 2
#define FLOW_AF_INET6 10

/* A flow as tracepoint handlers see it: with the socket's network namespace. */
struct flow {
	__u32 netns;    /* inode number of the network namespace */
	__u16 family;   /* FLOW_AF_INET or FLOW_AF_INET6 */
	__u16 lport;    /* local port, host byte order */
	__u16 rport;    /* remote port, host byte order */
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

/*
 * A flow as packet hooks see it, local side first. No namespace: a packet hook cannot tell it (user
 * space knows where it attached). Read as 64-bit words by the flowslots hash: keep it 8-aligned.
 */
struct pkt_tuple {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u16 family;
	__u16 pad;
};

/* Inode of the network namespace a socket belongs to (what /proc/PID/ns/net links to); CO-RE read. */
static __always_inline __u32 sock_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The same for BTF-typed tracepoints (tp_btf), which read a socket with plain loads. */
static __always_inline __u32 sock_netns_btf(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

/* Namespace of a packet, through the device it arrived on or leaves by. */
static __always_inline __u32 skb_netns(const struct sk_buff *skb)
{
	return BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
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

/* Whether a socket is a full one (not a TIME_WAIT or request socket): the kernel's sk_fullsock(). */
static __always_inline bool sock_is_full(const struct sock *sk)
{
	return !((1 << sk->__sk_common.skc_state) & ((1 << TCP_TIME_WAIT) | (1 << TCP_NEW_SYN_RECV)));
}

/*
 * A socket as a tcp_sock, or NULL when it is not a full TCP socket. bpf_skc_to_tcp_sock (5.9+) is a
 * helper call; bpf_rdonly_cast would cost nothing but needs 6.2, and one unresolved kfunc keeps the
 * whole object from loading on older kernels.
 */
static __always_inline const struct tcp_sock *tcp_sock_of(const struct sock *sk)
{
	return bpf_skc_to_tcp_sock((void *)sk);
}

static __always_inline bool ipv6_is_v4_mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff);
}

/*
 * A full TCP socket's addresses and ports (local first) as a flow, read directly in a tp_btf
 * program, namespace excluded (callers have it already). A v4-mapped IPv6 socket is IPv4 on the
 * wire and is recorded as IPv4, so that it matches what packet hooks see; its IPv4 fields hold the
 * addresses. Returns the socket as a tcp_sock, for callers that need TCP fields too (NULL when it
 * is not a full TCP socket).
 */
static __always_inline void flow_addrs_of_common(const struct sock_common *c, struct flow *flow)
{
	flow->family = c->skc_family;
	flow->rport = bpf_ntohs(c->skc_dport);
	if (flow->family == FLOW_AF_INET6 && ipv6_is_v4_mapped(c->skc_v6_rcv_saddr.in6_u.u6_addr32))
		flow->family = FLOW_AF_INET;
	__u32 *l = (__u32 *)flow->laddr, *r = (__u32 *)flow->raddr;

	if (flow->family == FLOW_AF_INET) {
		l[0] = c->skc_rcv_saddr;
		r[0] = c->skc_daddr;
		return;
	}
	for (int i = 0; i < 4; i++) {
		l[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
		r[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
	}
}

static __always_inline const struct tcp_sock *flow_of_sock_btf(const struct sock *sk, struct flow *flow)
{
	const struct sock_common *c = &sk->__sk_common;
	/* The source port as the classic tracepoint reads it: skc_num is already 0 when a closing socket
	 * has given its port back (inet_put_port runs before the change to CLOSE is traced). */
	const struct tcp_sock *tcp = tcp_sock_of(sk);

	flow_addrs_of_common(c, flow);
	flow->lport = tcp ? bpf_ntohs(tcp->inet_conn.icsk_inet.inet_sport) : c->skc_num;
	return tcp;
}

/* A request socket's flow (the connection a SYN-ACK is for), as flow_of_sock_btf reads a socket's. */
static __always_inline void flow_of_request_btf(const struct request_sock *req, struct flow *flow)
{
	flow_addrs_of_common(&req->__req_common, flow);
	flow->lport = req->__req_common.skc_num; /* the listener's port, as the classic tracepoint's sport */
}

/* The packet-hook tuple of a flow read from a socket: the same bytes a packet of it gives. */
static __always_inline void tuple_of_flow(const struct flow *flow, struct pkt_tuple *t)
{
	t->lport = flow->lport;
	t->rport = flow->rport;
	t->family = flow->family;
	t->pad = 0;
	__builtin_memcpy(t->laddr, flow->laddr, 16);
	__builtin_memcpy(t->raddr, flow->raddr, 16);
}

/*
 * Copies classic tracepoint address fields (local first) into a flow. An IPv6 socket carrying IPv4
 * has v4-mapped addresses; it is recorded as IPv4 (see flow_of_sock_btf). The tracepoints fill the
 * IPv4 fields for such sockets too.
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

#endif
