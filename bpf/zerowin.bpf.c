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

#define TC_ACT_UNSPEC (-1)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZW_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Not LRU: an evicted flow would lose its closures silently; a full table is counted instead. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zw_key);
	__type(value, struct zw_state);
} flows SEC(".maps");

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

/* Marks a closed window open again; returns how long it was closed (0: it was not closed). */
static __always_inline __u64 reopen(struct zw_state *s, __u64 now)
{
	__u64 since = s->closed_since_ns;

	if (since == 0 || __sync_val_compare_and_swap(&s->closed_since_ns, since, 0) != since)
		return 0;
	__sync_fetch_and_sub(&windows_closed, 1);
	__sync_fetch_and_add(&s->closed_ns, now - since);
	return now - since;
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
		struct zw_state *s = bpf_map_lookup_elem(&flows, key);

		if (s)
			reopen(s, now);
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

	if (!zero && !windows_closed)
		return TC_ACT_UNSPEC;
	struct zw_state *s = bpf_map_lookup_elem(&flows, &key);

	if (zero)
		PERCPU_BUMP(stats, direction == ZW_RECEIVED ? ZW_STAT_SEGMENTS_RECEIVED : ZW_STAT_SEGMENTS_SENT);
	if (!s) {
		if (!zero)
			return TC_ACT_UNSPEC; /* track flows from their first zero window on */
		struct zw_state fresh = {};

		if (bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST) && !bpf_map_lookup_elem(&flows, &key)) {
			PERCPU_BUMP(stats, ZW_STAT_FLOWS_FULL);
			return TC_ACT_UNSPEC;
		}
		s = bpf_map_lookup_elem(&flows, &key);
		if (!s)
			return TC_ACT_UNSPEC;
	}
	__u64 now = bpf_ktime_get_ns();

	/* Closing and reopening swap closed_since_ns atomically, so windows_closed moves once per change
	 * even when two CPUs see the same flow's segments at once. */
	if (zero && s->closed_since_ns == 0) {
		if (__sync_val_compare_and_swap(&s->closed_since_ns, 0, now) != 0)
			return TC_ACT_UNSPEC;
		__sync_fetch_and_add(&windows_closed, 1);
		__sync_fetch_and_add(&s->closures, 1);
		PERCPU_BUMP(stats, direction == ZW_RECEIVED ? ZW_STAT_RECEIVED : ZW_STAT_SENT);
		emit(&key, now, 0, 0);
	} else if (!zero) {
		__u64 closed = reopen(s, now);

		if (closed)
			emit(&key, now, closed, 1);
	}
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
