// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Duplicate ACKs received, per flow, at TC ingress. A segment is a duplicate ACK when, as in
 * Wireshark's analysis, it carries no data and no SYN, FIN or RST, its window is non-zero and
 * unchanged, its ACK number is unchanged, and its sequence number is the one expected next.
 * Observation only: the packet always goes on.
 */
#include "vmlinux.h"
#define TCPINSPECT_VMLINUX
#include "packet.h"
#include "dupack.h"
#include "events.h"
#include "sock_helpers.h"
#include "flowtable.h"
#include "flowslots.h"

#define TC_ACT_UNSPEC (-1)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DUPACK_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * Detector state of every flow seen, in a set-associative table (flowslots.h): a gateway sees
 * thousands of new flows a second and a packet hook never learns when one is gone, so old flows
 * age out as new ones take their way. Taking over a way costs at most that flow's next segment's
 * comparison (the segment starts its state again); it loses no count. A way taken over within a
 * second of its last segment is counted (DUPACK_STAT_DETECTOR_EVICTED): more flows were active
 * at once than the table holds. Before this table, an LRU hash map cost dupack ~4 us per short
 * connection (perf), most of it walking the map's bucket chains.
 */
#define DETECTOR_SET_BITS 15 /* 32,768 sets of 2 ways: 65,536 flows in 2 MiB */
#define DETECTOR_ACTIVE_MS 1000

struct detector_way {
	__u64 tag;        /* pkt_tuple_hash of the flow; 0: free */
	__u32 next_seq;   /* highest sequence number the peer has sent up to, plus one */
	__u32 last_ack;
	__u32 used_ms;    /* coarse clock, ~ms (ns >> 20), of the flow's last segment */
	__u16 last_window;
	__u16 pad;
};

struct detector_set {
	struct detector_way way[2];
	__u8 pad[16];     /* one set per 64-byte cache line */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << DETECTOR_SET_BITS);
	__type(key, __u32);
	__type(value, struct detector_set);
} detector SEC(".maps");

/* Dup ACKs per flow, only for flows that had one. Not LRU: a full table is counted, never silent,
 * and user space empties it every second (flowtable.h). */
FLOW_TABLES(struct pkt_tuple, __u64, 16384);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tc")
int tcpi_dupack_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tcp_view tcp = {};
	struct pkt_tuple t FLOWSLOT_KEY_ALIGNED = {};

	if (parse_eth_tcp(data, data_end, &tcp) != PARSE_TCP || !pkt_tuple_of(data, data_end, &tcp, 1, &t))
		return TC_ACT_UNSPEC;
	struct tcphdr *th = pkt_tcp_header(data, data_end, &tcp);

	if (!th)
		return TC_ACT_UNSPEC;
	__u32 seq = bpf_ntohl(th->seq);
	__u32 ack = bpf_ntohl(th->ack_seq);
	__u16 window = bpf_ntohs(th->window);
	__u8 flags = tcp.flags;
	__u32 end = seq + tcp.payload_len + ((flags & TCP_FLAG_SYN) ? 1 : 0) + ((flags & TCP_FLAG_FIN) ? 1 : 0);
	__u64 tag = flowslot_hash(&t, sizeof(t) / 8);
	__u32 set_index = flowslot_set(tag, DETECTOR_SET_BITS);
	struct detector_set *set = bpf_map_lookup_elem(&detector, &set_index);

	if (!set)
		return TC_ACT_UNSPEC;
	__u32 now_ms = bpf_ktime_get_coarse_ns() >> 20;
	struct detector_way *s;

	if (set->way[0].tag == tag) {
		s = &set->way[0];
	} else if (set->way[1].tag == tag) {
		s = &set->way[1];
	} else {
		/* A flow's state starts after its handshake: a SYN flood must not push real flows out. */
		if (flags & TCP_FLAG_SYN)
			return TC_ACT_UNSPEC;
		/* A free way, else the one whose flow was seen longest ago. */
		s = !set->way[0].tag || (set->way[1].tag && (__s32)(set->way[0].used_ms - set->way[1].used_ms) < 0)
			    ? &set->way[0]
			    : &set->way[1];
		if (s->tag && now_ms - s->used_ms < DETECTOR_ACTIVE_MS)
			PERCPU_BUMP(stats, DUPACK_STAT_DETECTOR_EVICTED);
		s->tag = tag;
		s->next_seq = end;
		s->last_ack = ack;
		s->last_window = window;
		s->used_ms = now_ms;
		return TC_ACT_UNSPEC;
	}
	s->used_ms = now_ms;
	if ((flags & TCP_FLAG_ACK) && tcp.payload_len == 0 &&
	    !(flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) && window != 0 &&
	    window == s->last_window && seq == s->next_seq && ack == s->last_ack) {
		__u64 zero = 0;
		__u64 *n = FLOW_ENTRY(&t, &zero);

		if (n)
			__sync_fetch_and_add(n, 1);
		else
			PERCPU_BUMP(stats, DUPACK_STAT_FLOWS_FULL);
		PERCPU_BUMP(stats, DUPACK_STAT_TOTAL);
		struct dupack_event *e = EVENT_RESERVE(events, sizeof(*e), stats, DUPACK_STAT_EVENTS_LOST);

		if (e) {
			e->ts_ns = bpf_ktime_get_ns();
			e->tuple = t;
			e->ack = ack;
			e->window = window;
			e->pad = 0;
			bpf_ringbuf_submit(e, events_wakeup_flag(&events));
		}
	}
	/* Sequence space wraps: "after" is a signed comparison of the difference. */
	if ((__s32)(end - s->next_seq) > 0)
		s->next_seq = end;
	if (flags & TCP_FLAG_ACK)
		s->last_ack = ack;
	s->last_window = window;
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
