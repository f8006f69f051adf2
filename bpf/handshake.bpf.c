// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Handshake latency. Passive: from the first SYN of a connection seen at TC ingress of a watched
 * interface (so a lost and retried SYN counts from the first one) to ESTABLISHED. Active: from
 * SYN_SENT to ESTABLISHED. Log-linear histograms (hist.h) overall and per local port, in microseconds.
 */
#include "vmlinux.h"
#define TCPINSPECT_VMLINUX
#include "packet.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "handshake.h"
#include "tuple.h"
#include "sock_helpers.h"
#include "events.h"

#define TC_ACT_UNSPEC (-1)
#define PROTO_TCP 6
enum { ST_ESTABLISHED = 1, ST_SYN_SENT = 2, ST_SYN_RECV = 3, ST_CLOSE = 7 };

const volatile __u32 target_netns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* First SYN time per connection; LRU so that unanswered SYNs (a flood) cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pkt_tuple);
	__type(value, __u64);
} syn_seen SEC(".maps");

/* SYN_SENT time per connecting socket. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_KINDS * HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_KINDS);
	__type(key, __u32);
	__type(value, struct hist_summary);
} summary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hs_port_key);
	__type(value, __u64);
} port_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tc")
int tcpi_hs_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tcp_view tcp = {};

	if (parse_eth_tcp(data, data_end, &tcp) != PARSE_TCP ||
	    (tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return TC_ACT_UNSPEC;

	struct pkt_tuple t = {};

	if (!pkt_tuple_of(data, data_end, &tcp, 1, &t))
		return TC_ACT_UNSPEC;
	__u64 now = bpf_ktime_get_ns();

	/* Only the first SYN: a retried SYN must not restart the clock. */
	bpf_map_update_elem(&syn_seen, &t, &now, BPF_NOEXIST);
	return TC_ACT_UNSPEC;
}

static __always_inline void record(struct flow *flow, __u32 kind, __u64 latency_ns)
{
	__u64 us = latency_ns / 1000;
	__u32 bucket = hist_bucket(us);
	__u32 slot = kind * HIST_BUCKETS + bucket;
	__u64 *n = bpf_map_lookup_elem(&hist, &slot);

	if (n)
		(*n)++;
	struct hist_summary *s = bpf_map_lookup_elem(&summary, &kind);

	if (s) {
		if (s->count == 0 || us < s->min)
			s->min = us;
		if (us > s->max)
			s->max = us;
		s->count++;
		s->sum += us;
	}
	struct hs_port_key pk = {.lport = flow->lport, .kind = kind, .bucket = bucket};
	__u64 zero = 0;
	__u64 *pn = lookup_or_init(&port_hist, &pk, &zero);

	if (pn)
		(*pn)++;
	else
		PERCPU_BUMP(stats, HS_STAT_PORTS_FULL);
	struct hs_event *e = EVENT_RESERVE(events, sizeof(*e), stats, HS_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->flow = *flow;
	e->kind = kind;
	e->latency_us = us;
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcpi_hs_state, const struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != PROTO_TCP)
		return 0;
	if (target_netns && sock_netns_btf(sk) != target_netns)
		return 0;
	__u64 key = (__u64)sk;
	__u64 now = bpf_ktime_get_ns();

	if (newstate == ST_SYN_SENT) {
		bpf_map_update_elem(&connecting, &key, &now, BPF_ANY);
		return 0;
	}
	if (oldstate == ST_SYN_SENT && newstate == ST_CLOSE) {
		bpf_map_delete_elem(&connecting, &key);
		return 0;
	}
	if (newstate != ST_ESTABLISHED || (oldstate != ST_SYN_SENT && oldstate != ST_SYN_RECV))
		return 0;

	struct flow flow = {};

	flow_of_sock_btf(sk, &flow);

	if (oldstate == ST_SYN_SENT) {
		__u64 *start = bpf_map_lookup_elem(&connecting, &key);

		if (start) {
			__u64 t0 = *start;

			bpf_map_delete_elem(&connecting, &key);
			record(&flow, HS_ACTIVE, now - t0);
		}
		return 0;
	}
	struct pkt_tuple t = {.lport = flow.lport, .rport = flow.rport, .family = flow.family};

	__builtin_memcpy(t.laddr, flow.laddr, 16);
	__builtin_memcpy(t.raddr, flow.raddr, 16);
	__u64 *syn = bpf_map_lookup_elem(&syn_seen, &t);

	if (!syn) {
		PERCPU_BUMP(stats, HS_STAT_PASSIVE_UNMATCHED);
		return 0;
	}
	__u64 t0 = *syn;

	bpf_map_delete_elem(&syn_seen, &t);
	record(&flow, HS_PASSIVE, now - t0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
