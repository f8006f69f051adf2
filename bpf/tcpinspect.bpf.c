// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tcpinspect's kernel side: one program per hook. Each packet program parses a packet once and
 * hands it to the running probes' handlers; each tracepoint has one handler (the state change's
 * with its twin) shared by every probe that uses it. Which probes run is decided before loading by
 * read-only switches (NAME_enabled, lib/probe.h): the verifier removes the code of probes that are
 * off, and user space (probe.ProbeSet) attaches only the hooks the running probes need.
 *
 * Each probe is in its own header under probes/: its event and table layouts (shared with its Java
 * package), its maps and its handlers. Observation only: every packet program lets the packet go
 * on unchanged (TC_ACT_UNSPEC keeps any later tc filter in charge, XDP_PASS hands the frame on).
 */
#include "lib/probe.h"
#include "lib/twin.h"
#include "lib/handoff.h"
#include "probes/packets.h"
#include "probes/conn.h"
#include "probes/handshake.h"
#include "probes/retrans.h"
#include "probes/reset.h"
#include "probes/drops.h"
#include "probes/zerowin.h"
#include "probes/rtt.h"
#include "probes/dupack.h"
#include "probes/anomaly.h"
#include "probes/scan.h"
#include "probes/flood.h"
#include "probes/cycling.h"
#include "probes/capture.h"
#include "probes/upstream.h"
#include "probes/listener.h"

/* ---- packet hooks ---- */

/* Every packet arriving on a watched interface (or its XDP program's, with --xdp). */
static __always_inline void on_ingress(struct pkt *p, __u32 ifindex)
{
	packets_on_ingress(p);
	anomaly_on_ingress(p);
	capture_on_ingress(p, ifindex);
	if (p->result != PARSE_TCP)
		return;
	handshake_on_ingress(p);
	scan_on_ingress(p);
	flood_on_ingress(p);
	dupack_on_ingress(p);
	zerowin_on_segment(p, ZW_RECEIVED);
	upstream_on_segment(p, UP_SOCK_THEIRS);
}

SEC("tc")
int tcpi_tc_ingress(struct __sk_buff *skb)
{
	struct pkt p;

	pkt_parse_skb(skb, &p, true);
	on_ingress(&p, skb->ifindex);
	return TC_ACT_UNSPEC;
}

SEC("xdp")
int tcpi_xdp_ingress(struct xdp_md *ctx)
{
	struct pkt p;

	pkt_parse_xdp(ctx, &p);
	on_ingress(&p, ctx->ingress_ifindex);
	return XDP_PASS;
}

/*
 * Behind the enforcer's XDP program (lib/handoff.h): the packets it passed on the watched
 * interfaces it protects, with its parse. Tail-called, never attached; its return is the packet's
 * fate, which the enforcer decided: pass. The slot map is the enforcer's (reused by user space),
 * the interfaces are the watch's (the enforcer may protect more): xdp_behind_ifindexes, set before
 * loading, 0 where unused; all 0 when the watch takes every interface the enforcer protects.
 */
XDP_HANDOFF_MAP(xdp_behind_handoff, );

#define XDP_BEHIND_MAX_INTERFACES 16
const volatile __u32 xdp_behind_ifindexes[XDP_BEHIND_MAX_INTERFACES] = {};

static __always_inline bool xdp_behind_watched(__u32 ifindex)
{
	if (!xdp_behind_ifindexes[0])
		return true;
#pragma unroll
	for (int i = 0; i < XDP_BEHIND_MAX_INTERFACES; i++) {
		if (xdp_behind_ifindexes[i] == ifindex)
			return true;
		if (!xdp_behind_ifindexes[i])
			break;
	}
	return false;
}

SEC("xdp")
int tcpi_xdp_behind(struct xdp_md *ctx)
{
	__u32 zero = 0, ifindex = ctx->ingress_ifindex;
	struct xdp_handoff *h = bpf_map_lookup_elem(&xdp_behind_handoff, &zero);
	struct pkt p;

	if (!h || !xdp_behind_watched(ifindex))
		return XDP_PASS;
	pkt_reset(&p, true);
	p.result = h->result;
	p.tcp = h->tcp;
	p.data = (void *)(long)ctx->data;
	p.data_end = (void *)(long)ctx->data_end;
	on_ingress(&p, ifindex);
	return XDP_PASS;
}

/* Every packet leaving by a watched interface (or sent by a watched cgroup's sockets). */
static __always_inline void on_egress(struct pkt *p, __u32 ifindex)
{
	if (p->result == PARSE_TCP) {
		handshake_on_egress(p);
		zerowin_on_segment(p, ZW_SENT);
		upstream_on_segment(p, UP_SOCK_OURS);
	}
	capture_on_egress(p, ifindex);
}

SEC("tc")
int tcpi_tc_egress(struct __sk_buff *skb)
{
	struct pkt p;

	pkt_parse_skb(skb, &p, false);
	on_egress(&p, skb->ifindex);
	return TC_ACT_UNSPEC;
}

/*
 * The packet hooks scoped to one cgroup's sockets (watch --cgroup), in place of the interfaces':
 * the segments the cgroup's sockets receive and send, on whatever interface, from the IP header on.
 * Not what the stack answers for no socket of theirs (a RST to a closed port, a TIME_WAIT's ACK: a
 * control socket sends those). Both return 1: the segment goes on, always.
 */
SEC("cgroup_skb/ingress")
int tcpi_cgroup_ingress(struct __sk_buff *skb)
{
	struct pkt p;

	pkt_parse_cgroup_skb(skb, &p, true);
	on_ingress(&p, skb->ifindex);
	return 1;
}

SEC("cgroup_skb/egress")
int tcpi_cgroup_egress(struct __sk_buff *skb)
{
	struct pkt p;

	pkt_parse_cgroup_skb(skb, &p, false);
	on_egress(&p, skb->ifindex);
	return 1;
}

/*
 * Every segment reaching a listening socket a watch was given (--socket PID:PORT) or a connection
 * it accepted: a socket filter, which keeps the whole segment (its return is the length to keep).
 */
SEC("socket")
int tcpi_socket_filter(struct __sk_buff *skb)
{
	listener_on_segment(skb);
	return skb->len;
}

/* ---- tracepoints ---- */

/*
 * A TCP state change (sock:inet_sock_set_state), by whichever copy of the twin pair handles it
 * (twin.h). The socket's shared record is taken when a connection starts, for the probes that keep
 * something per connection, and freed once it is closed.
 */
static __always_inline int on_state_change(int second, const struct sock *sk, __u64 sk_addr, int oldstate,
					   int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	struct state_change c = {.sk = sk, .sk_addr = sk_addr, .oldstate = oldstate, .newstate = newstate,
				 .second = second, .netns = sock_netns_btf(sk)};

	if (!netns_wanted(c.netns))
		return 0;
	/* conn keeps every connection's record until its close; handshake an outgoing one's start
	 * until it is established. The clock is read only for what needs it: handshake's outgoing
	 * starts, and conn's durations, which only its events carry. */
	if (newstate == TCP_SYN_SENT && (conn_enabled || handshake_enabled))
		state_sock_start(&c, handshake_enabled || (conn_enabled && emit_events));
	else if (newstate == TCP_SYN_RECV && conn_enabled)
		state_sock_start(&c, emit_events);
	conn_on_state(&c);
	handshake_on_state(&c);
	scan_on_state(&c);
	flood_on_state(&c);
	cycling_on_state(&c);
	upstream_on_state(&c);
	if (newstate == TCP_CLOSE || (!conn_enabled && newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT))
		state_sock_forget(&c);
	return 0;
}

/* tcpi_state handles each state change; tcpi_state_twin, its twin, those the kernel skips the first for. */
TWIN_INET_SOCK_SET_STATE(tcpi_state, tcpi_state_twin, on_state_change)

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcpi_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	__u32 reason = 0;

	/* The reason argument came with 6.10; read only where the tracepoint has it. */
	if (bpf_core_field_exists(struct trace_event_raw_tcp_send_reset, reason))
		reason = (__u32)ctx[2];
	if (sk)
		conn_on_reset(tp_btf_arg_value(ctx, 0), CONN_END_RST_SENT);
	reset_on_send(sk, skb, reason);
	scan_on_send_reset(sk, skb);
	cycling_on_reset(sk, skb);
	upstream_on_reset(sk, UP_STAT_RESETS_SENT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcpi_receive_reset, const struct sock *sk)
{
	conn_on_reset(tp_btf_arg_value(ctx, 0), CONN_END_RST_RECEIVED);
	reset_on_receive(sk);
	cycling_on_reset(sk, NULL);
	upstream_on_reset(sk, UP_STAT_RESETS_RECEIVED);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcpi_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	__s32 err = 0;

	/* The error argument came with 6.17; read only where the tracepoint has it. */
	if (bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb, err))
		err = (__s32)ctx[2];
	retrans_on_retransmit_skb(sk, err);
	upstream_on_retransmit(sk);
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(tcpi_retransmit_synack, const struct sock *sk, const struct request_sock *req)
{
	retrans_on_retransmit_synack(sk, req);
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcpi_tcp_probe, const struct sock *sk, const struct sk_buff *skb)
{
	rtt_on_tcp_probe(sk);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(tcpi_kfree_skb, const struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	const struct sock *rx_sk = NULL;

	/* The receiving socket came with 6.12 as a fourth argument. */
	if (bpf_core_field_exists(struct trace_event_raw_kfree_skb, rx_sk))
		rx_sk = (const struct sock *)ctx[3];
	drops_on_kfree(skb, reason, rx_sk);
	capture_on_kfree(skb, reason, rx_sk);
	return 0;
}

SEC("tp_btf/sock_rcvqueue_full")
int BPF_PROG(tcpi_rcvqueue_full, const struct sock *sk)
{
	drops_on_rcvqueue_full(sk);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
