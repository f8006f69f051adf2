// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Baselines for bench/: programs that do nothing, one for each kind of hook the probes use, so that
 * a benchmark can tell what a hook costs by itself from what a probe's work costs.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("tc")
int tcpi_empty_tc(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

SEC("xdp")
int tcpi_empty_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* The floor of dropping at XDP: a program that drops everything (bench/FloodCost.java, only on a lab veth). */
SEC("xdp")
int tcpi_drop_xdp(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/*
 * The floor of dropping one port at XDP: IPv4 TCP to port 9999 dropped, everything else passed, with
 * the least parsing that can tell (no options, no IPv6). bench/FloodCost.java's control for the
 * legitimate client beside a flood: what any XDP program that filters a port costs that client.
 */
SEC("xdp")
int tcpi_drop_port_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	if ((void *)(tcp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_TCP ||
	    ip->ihl != 5)
		return XDP_PASS;
	return tcp->dest == bpf_htons(9999) ? XDP_DROP : XDP_PASS;
}

/* The BTF-typed tracepoints the probes attach to (conn and handshake both to inet_sock_set_state). */
SEC("tp_btf/inet_sock_set_state")
int tcpi_empty_state(void *ctx)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int tcpi_empty_state2(void *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_probe")
int tcpi_empty_probe(void *ctx)
{
	return 0;
}

SEC("tp_btf/kfree_skb")
int tcpi_empty_kfree(void *ctx)
{
	return 0;
}

/* The other hooks of tcpinspect.bpf.c, so that a baseline can stand on every hook it uses. */
SEC("tp_btf/tcp_send_reset")
int tcpi_empty_send_reset(void *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int tcpi_empty_recv_reset(void *ctx)
{
	return 0;
}

SEC("tp_btf/sock_rcvqueue_full")
int tcpi_empty_rcvq(void *ctx)
{
	return 0;
}

/*
 * The least a program that counts anything does: one per-CPU counter, once per run. Beside the
 * empty programs they show what touching any map at all costs a hook in real traffic.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} count_runs SEC(".maps");

static __always_inline int count_run(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&count_runs, &zero);

	if (n)
		(*n)++;
	return 0;
}

SEC("tc")
int tcpi_count_tc(struct __sk_buff *skb)
{
	count_run();
	return TC_ACT_UNSPEC;
}

SEC("tp_btf/inet_sock_set_state")
int tcpi_count_state(void *ctx)
{
	return count_run();
}

SEC("tp_btf/inet_sock_set_state")
int tcpi_count_state2(void *ctx)
{
	return count_run();
}

SEC("tp_btf/tcp_probe")
int tcpi_count_probe(void *ctx)
{
	return count_run();
}

SEC("tp_btf/kfree_skb")
int tcpi_count_kfree(void *ctx)
{
	return count_run();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
