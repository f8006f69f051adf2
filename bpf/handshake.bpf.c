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
#include "flowslots.h"
#include "twin.h"

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

/*
 * Start times waiting for their ESTABLISHED, in set-associative tables (flowslots.h): one inlined
 * array lookup and no lock per SYN and per handshake, where LRU hash maps cost a lock per insert
 * and a bucket walk per lookup. A start that finds its set full takes the way of the oldest one:
 * unanswered SYNs (a flood) age out as in an LRU; a handshake whose start was pushed out is counted
 * as unmatched.
 */
#define START_SET_BITS 14 /* 16,384 sets of 4 ways: 65,536 handshakes in progress in 1 MiB */

/*
 * First SYN time per incoming connection, from TC ingress (tag: flowslot_hash of the tuple; stamp:
 * the time).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << START_SET_BITS);
	__type(key, __u32);
	__type(value, struct slot_set);
} syn_seen SEC(".maps");

/* SYN_SENT time per connecting socket (tag: the socket's address; stamp: the time). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << START_SET_BITS);
	__type(key, __u32);
	__type(value, struct slot_set);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_KINDS * HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

/*
 * Per kind and per twin copy (index kind + HS_KINDS * second): the copies can interrupt each other
 * on a CPU, and min and max cannot be updated atomically; user space merges them as it merges CPUs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_KINDS * 2);
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

	struct pkt_tuple t FLOWSLOT_KEY_ALIGNED = {};

	if (!pkt_tuple_of(data, data_end, &tcp, 1, &t))
		return TC_ACT_UNSPEC;
	__u64 tag = flowslot_hash(&t, sizeof(t) / 8);
	__u32 index = flowslot_set(tag, START_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&syn_seen, &index);

	if (!set)
		return TC_ACT_UNSPEC;
	struct slot_way *w = slot_take(set, tag);

	/* Only the first SYN: a retried SYN must not restart the clock. */
	if (w->tag != tag) {
		w->tag = tag;
		w->stamp = bpf_ktime_get_ns();
	}
	return TC_ACT_UNSPEC;
}

/* Counts a handshake: counters atomically, the summary in this twin copy's own slot (see summary). */
static __always_inline void record(struct flow *flow, __u32 kind, __u64 latency_ns, int second)
{
	__u64 us = latency_ns / 1000;
	__u32 bucket = hist_bucket(us);
	__u32 slot = kind * HIST_BUCKETS + bucket;
	__u64 *n = bpf_map_lookup_elem(&hist, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
	__u32 summary_slot = kind + (second ? HS_KINDS : 0);
	struct hist_summary *s = bpf_map_lookup_elem(&summary, &summary_slot);

	if (s) {
		if (s->count == 0 || us < s->min)
			s->min = us;
		if (us > s->max)
			s->max = us;
		s->count++;
		s->sum += us;
	}
	/* Accepted connections by the local port (the service), outgoing ones by the remote port (the
	 * upstream's): an outgoing connection's local port is ephemeral and would fill the table. */
	struct hs_port_key pk = {.port = kind == HS_PASSIVE ? flow->lport : flow->rport, .kind = kind, .bucket = bucket};
	__u64 zero = 0;
	__u64 *pn = lookup_or_init(&port_hist, &pk, &zero);

	if (pn)
		__sync_fetch_and_add(pn, 1);
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

/* One state change, by whichever twin (twin.h) handles it; second: the twin's second copy. */
static __always_inline int state_change(int second, const struct sock *sk, __u64 sk_addr, int oldstate, int newstate)
{
	if (sk->sk_protocol != PROTO_TCP)
		return 0;
	/* Only the changes that start or end a handshake go further. */
	if (newstate != ST_SYN_SENT && !(oldstate == ST_SYN_SENT && newstate == ST_CLOSE) &&
	    !(newstate == ST_ESTABLISHED && (oldstate == ST_SYN_SENT || oldstate == ST_SYN_RECV)))
		return 0;
	if (target_netns && sock_netns_btf(sk) != target_netns)
		return 0;

	if (newstate == ST_SYN_SENT || oldstate == ST_SYN_SENT) {
		__u32 index = sockslot_set(sk_addr, START_SET_BITS);
		struct slot_set *set = bpf_map_lookup_elem(&connecting, &index);

		if (!set)
			return 0;
		if (newstate == ST_SYN_SENT) {
			struct slot_way *w = slot_take(set, sk_addr);

			w->tag = sk_addr;
			w->stamp = bpf_ktime_get_ns();
			return 0;
		}
		struct slot_way *w = slot_find(set, sk_addr);

		if (!w)
			return 0;
		__u64 t0 = w->stamp;

		w->tag = 0;
		if (newstate == ST_CLOSE)
			return 0;
		struct flow flow = {};

		flow_of_sock_btf(sk, &flow);
		record(&flow, HS_ACTIVE, bpf_ktime_get_ns() - t0, second);
		return 0;
	}

	struct flow flow = {};

	flow_of_sock_btf(sk, &flow);
	struct pkt_tuple t FLOWSLOT_KEY_ALIGNED = {.lport = flow.lport, .rport = flow.rport, .family = flow.family};

	__builtin_memcpy(t.laddr, flow.laddr, 16);
	__builtin_memcpy(t.raddr, flow.raddr, 16);
	__u64 tag = flowslot_hash(&t, sizeof(t) / 8);
	__u32 index = flowslot_set(tag, START_SET_BITS);
	struct slot_set *set = bpf_map_lookup_elem(&syn_seen, &index);
	struct slot_way *w = set ? slot_find(set, tag) : NULL;

	if (!w) {
		PERCPU_BUMP(stats, HS_STAT_PASSIVE_UNMATCHED);
		return 0;
	}
	__u64 t0 = w->stamp;

	w->tag = 0;
	record(&flow, HS_PASSIVE, bpf_ktime_get_ns() - t0, second);
	return 0;
}

/* tcpi_hs_state handles each state change; tcpi_hs_twin, its twin, those the kernel skips the first for. */
TWIN_INET_SOCK_SET_STATE(tcpi_hs_state, tcpi_hs_twin, state_change)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
