// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Zero windows: advertised by peers (TC ingress) and by this host (TC egress), per flow, with how
 * long the window stayed closed. A closure is a change from a non-zero to a zero window (what the
 * kernel counts as TCPToZeroWindowAdv for the windows it sends); every zero-window segment is also
 * counted. SYN and RST segments are not counted; a RST ends whatever closure its flow still had.
 * Observation only: packets always go on.
 */
#include "vmlinux.h"
#define TCPINSPECT_VMLINUX
#include "packet.h"
#include "zerowin.h"
#include "events.h"
#include "sock_helpers.h"
#include "flowtable.h"

#define TC_ACT_UNSPEC (-1)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZW_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * The windows closed right now, each with when it closed: an entry lives from a closure to its
 * reopening (or the flow's RST), so the table holds what is closed at once, not every flow that
 * ever closed a window. Not LRU: an evicted closure would be lost silently; a full table is counted.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zw_key);
	__type(value, __u64); /* bpf_ktime_get_ns() of the closure */
} closed SEC(".maps");

/* Closures and closed time per flow and direction, drained by user space every second (flowtable.h). */
FLOW_TABLES(struct zw_key, struct zw_counts, 16384);

/*
 * Windows closed right now, over all flows. While none is, a segment with an open window has
 * nothing to reopen and skips the table lookup: the common case costs only the header parse. A
 * reopening racing its closure on another CPU is caught by the flow's next segment.
 */
__u64 windows_closed = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

static __always_inline void emit(const struct zw_key *key, __u64 now, __u64 closed_ns, __u8 reopened)
{
	struct zw_event *e = EVENT_RESERVE(events, sizeof(*e), stats, ZW_STAT_EVENTS_LOST);

	if (!e)
		return;
	e->ts_ns = now;
	e->closed_ns = closed_ns;
	e->tuple = key->tuple;
	e->direction = key->direction;
	e->reopened = reopened;
	e->pad = 0;
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
}

/* Adds to the flow's counts; a flow the table has no room for is counted as untracked. */
static __always_inline void count(const struct zw_key *key, __u64 closures, __u64 closed_ns)
{
	struct zw_counts zero = {};
	struct zw_counts *c = FLOW_ENTRY(key, &zero);

	if (!c) {
		PERCPU_BUMP(stats, ZW_STAT_FLOWS_FULL);
		return;
	}
	if (closures)
		__sync_fetch_and_add(&c->closures, closures);
	if (closed_ns)
		__sync_fetch_and_add(&c->closed_ns, closed_ns);
}

/*
 * Ends a closed window: returns how long it was closed, 0 when it was not closed. Whoever deletes
 * the entry ends the closure, so two CPUs seeing the reopening at once count it once.
 */
static __always_inline __u64 reopen(const struct zw_key *key, __u64 now)
{
	__u64 *since = bpf_map_lookup_elem(&closed, key);

	if (!since)
		return 0;
	__u64 closed_at = *since;

	if (bpf_map_delete_elem(&closed, key))
		return 0;
	__sync_fetch_and_sub(&windows_closed, 1);
	__u64 closed_for = now > closed_at ? now - closed_at : 1;

	count(key, 0, closed_for);
	return closed_for;
}

/*
 * A reset ends the flow: a window still closed in either direction is no longer waited for (it
 * counts as closed until now, without a reopening event), so windows_closed can fall back to 0.
 */
static __always_inline void forget_on_reset(struct zw_key *key)
{
	__u64 now = bpf_ktime_get_ns();

	for (__u32 direction = ZW_RECEIVED; direction <= ZW_SENT; direction++) {
		key->direction = direction;
		reopen(key, now);
	}
}

static __always_inline int observe(struct __sk_buff *skb, __u32 direction)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tcp_view tcp = {};
	struct zw_key key = {.direction = direction};

	if (parse_eth_tcp(data, data_end, &tcp) != PARSE_TCP || (tcp.flags & TCP_FLAG_SYN))
		return TC_ACT_UNSPEC;
	if (tcp.flags & TCP_FLAG_RST) {
		if (windows_closed && pkt_tuple_of(data, data_end, &tcp, direction == ZW_RECEIVED, &key.tuple))
			forget_on_reset(&key);
		return TC_ACT_UNSPEC;
	}
	if (!(tcp.flags & TCP_FLAG_ACK) || !pkt_tuple_of(data, data_end, &tcp, direction == ZW_RECEIVED, &key.tuple))
		return TC_ACT_UNSPEC;
	struct tcphdr *th = pkt_tcp_header(data, data_end, &tcp);

	if (!th)
		return TC_ACT_UNSPEC;
	int zero = th->window == 0;

	if (!zero) {
		if (windows_closed) {
			__u64 now = bpf_ktime_get_ns();
			__u64 closed_for = reopen(&key, now);

			if (closed_for)
				emit(&key, now, closed_for, 1);
		}
		return TC_ACT_UNSPEC;
	}
	PERCPU_BUMP(stats, direction == ZW_RECEIVED ? ZW_STAT_SEGMENTS_RECEIVED : ZW_STAT_SEGMENTS_SENT);
	if (bpf_map_lookup_elem(&closed, &key))
		return TC_ACT_UNSPEC; /* closed already: a window probe's answer, or a repeated ACK */
	__u64 now = bpf_ktime_get_ns();

	/* Whoever inserts the entry makes the closure, so windows_closed moves once per change. */
	if (bpf_map_update_elem(&closed, &key, &now, BPF_NOEXIST)) {
		if (!bpf_map_lookup_elem(&closed, &key))
			PERCPU_BUMP(stats, ZW_STAT_FLOWS_FULL); /* no room: this closure is not counted */
		return TC_ACT_UNSPEC;
	}
	__sync_fetch_and_add(&windows_closed, 1);
	PERCPU_BUMP(stats, direction == ZW_RECEIVED ? ZW_STAT_RECEIVED : ZW_STAT_SENT);
	count(&key, 1, 0);
	emit(&key, now, 0, 0);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tcpi_zw_in(struct __sk_buff *skb)
{
	return observe(skb, ZW_RECEIVED);
}

SEC("tc")
int tcpi_zw_out(struct __sk_buff *skb)
{
	return observe(skb, ZW_SENT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
