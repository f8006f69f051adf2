/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * capture: copies of flagged packets for a pcapng file (watch --pcap): anomalous segments, resets
 * in and out, and TCP packets the kernel dropped with a reason, each with why it was flagged.
 * Headers only unless capture_payload is set (then up to CAPTURE_BYTES of the frame). Not a probe
 * of the registry: it runs when a file is asked for, beside the probes the user chose, and it
 * judges packets by itself, whichever of them run. Java: probe.capture.CaptureProbe.
 */
#ifndef TCPINSPECT_CAPTURE_H
#define TCPINSPECT_CAPTURE_H

#include "lib/probe.h"
#include "lib/maps.h"
#include "lib/packet.h"
#include "lib/skb.h"
#include "probes/anomaly.h"
#include "probes/drops.h"

PROBE_SWITCH(capture);

/* Whole frames up to CAPTURE_BYTES instead of headers only. */
const volatile bool capture_payload = false;

/* Why a packet was copied. */
enum capture_kind {
	CAPTURE_ANOMALY = 1,   /* code: enum anomaly_kind */
	CAPTURE_RESET_IN = 2,  /* a segment with RST arriving on a watched interface */
	CAPTURE_RESET_OUT = 3, /* a segment with RST leaving by one */
	CAPTURE_DROP = 4,      /* code: the kernel's enum skb_drop_reason */
};
SHARED_WITH_JAVA(enum capture_kind, capture_kind);

/* The most copied of one packet: every header tcpinspect parses fits (QinQ, IPv6 with extensions, TCP options). */
#define CAPTURE_BYTES 256
/* pcap link types of the copied bytes. */
#define CAPTURE_LINK_ETHERNET 1
#define CAPTURE_LINK_RAW 101

struct capture_record {
	__u64 ts_ns;     /* bpf_ktime_get_ns */
	__u32 ifindex;   /* 0 when the kernel freed it before a device (a drop in a socket's queue) */
	__u16 kind;      /* enum capture_kind */
	__u16 code;
	__u32 orig_len;  /* the packet's length from its first copied byte */
	__u16 cap_len;   /* bytes copied */
	__u8 link;       /* CAPTURE_LINK_* */
	__u8 pad;
	__u8 data[CAPTURE_BYTES];
};
SHARED_WITH_JAVA(struct capture_record, capture_record);

enum capture_stat {
	CAPTURE_STAT_COPIED = 0,
	CAPTURE_STAT_LOST = 1, /* flagged, but the ring had no room */
	CAPTURE_STAT_SLOTS = 2,
};
SHARED_WITH_JAVA(enum capture_stat, capture_stat);

/* Bumped atomically (PERCPU_BUMP): the egress handlers also run from the cgroup egress hook, in the
 * sending process's context, which an ingress run in a softirq can interrupt on the same CPU. */
PERCPU_COUNTERS(capture_stats, CAPTURE_STAT_SLOTS);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} capture_packets SEC(".maps");

static __always_inline struct capture_record *capture_reserve(void)
{
	struct capture_record *r = bpf_ringbuf_reserve(&capture_packets, sizeof(*r), 0);

	if (!r)
		PERCPU_BUMP(capture_stats, CAPTURE_STAT_LOST);
	return r;
}

static __always_inline void capture_submit(struct capture_record *r)
{
	PERCPU_BUMP(capture_stats, CAPTURE_STAT_COPIED);
	bpf_ringbuf_submit(r, 0);
}

/* A parsed packet on a watched interface (TC or XDP): its frame from the Ethernet header. */
static __always_inline void capture_frame(const struct pkt *p, __u32 ifindex, __u16 kind, __u16 code)
{
	struct capture_record *r = capture_reserve();

	if (!r)
		return;
	__u64 frame = (__u64)(p->data_end - p->data);
	__u64 len = capture_payload ? frame : (__u64)p->tcp.l4_offset + p->tcp.doff;

	if (len > frame)
		len = frame;
	if (len > CAPTURE_BYTES)
		len = CAPTURE_BYTES;
	r->ts_ns = bpf_ktime_get_ns();
	r->ifindex = ifindex;
	r->kind = kind;
	r->code = code;
	r->orig_len = frame;
	r->link = p->l3 ? CAPTURE_LINK_RAW : CAPTURE_LINK_ETHERNET;
	r->pad = 0;
	r->cap_len = 0;
	if (len > 0 && bpf_probe_read_kernel(r->data, len, p->data) == 0)
		r->cap_len = len;
	capture_submit(r);
}

/* On a watched interface's way in: anomalous segments and resets. */
static __always_inline void capture_on_ingress(const struct pkt *p, __u32 ifindex)
{
	if (!capture_enabled || p->result != PARSE_TCP)
		return;
	__u8 f = p->tcp.flags;
	__u8 sfr = f & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST);

	/* anomaly.h's test of the usual segments, then its kinds */
	if ((p->tcp.flags_hi & TCP_FLAG_HI_RESERVED) || (f & TCP_FLAG_URG) || (sfr & (sfr - 1)) ||
	    !((f & TCP_FLAG_ACK) || sfr == TCP_FLAG_RST || (sfr == TCP_FLAG_SYN && p->tcp.payload_len == 0))) {
		int kind = anomaly_kind_of(p);

		if (kind >= 0) {
			capture_frame(p, ifindex, CAPTURE_ANOMALY, kind);
			return;
		}
	}
	if (f & TCP_FLAG_RST)
		capture_frame(p, ifindex, CAPTURE_RESET_IN, 0);
}

/* On a watched interface's way out: resets this host sends. */
static __always_inline void capture_on_egress(const struct pkt *p, __u32 ifindex)
{
	if (capture_enabled && p->result == PARSE_TCP && (p->tcp.flags & TCP_FLAG_RST))
		capture_frame(p, ifindex, CAPTURE_RESET_OUT, 0);
}

/* skb:kfree_skb: a TCP packet dropped with a reason (teardown frees are not drops: drops.h), from its IP header. */
static __always_inline void capture_on_kfree(const struct sk_buff *skb, __u32 reason, const struct sock *rx_sk)
{
	if (!capture_enabled)
		return;
	__u16 proto = skb->protocol;

	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return;
	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED) ||
	    (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_QUEUE_PURGE) &&
	     reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_QUEUE_PURGE)))
		return;
	if (!skb_is_tcp(skb) || !netns_wanted(drops_netns(skb, rx_sk)))
		return;
	unsigned char *head = skb->head;
	__u16 l3 = skb->network_header;
	__u16 l4 = skb->transport_header;
	__u32 end = skb->tail; /* an offset from head on 64-bit kernels */
	__u8 doff = 0;

	if (end <= l3)
		return;
	__u64 len = end - l3;
	__u64 orig = skb->len + (__u32)(skb->data - (head + l3)); /* from the IP header, wherever data points now */

	if (!capture_payload && l4 > l3 && l4 < end) {
		bpf_probe_read_kernel(&doff, 1, head + l4 + 12);
		__u64 headers = (__u64)(l4 - l3) + ((doff >> 4) << 2);

		if (headers < len)
			len = headers;
	}
	if (len > CAPTURE_BYTES)
		len = CAPTURE_BYTES;
	struct capture_record *r = capture_reserve();

	if (!r)
		return;
	const struct net_device *dev = skb->dev;

	r->ts_ns = bpf_ktime_get_ns();
	r->ifindex = dev ? dev->ifindex : 0;
	r->kind = CAPTURE_DROP;
	r->code = reason;
	r->orig_len = orig;
	r->link = CAPTURE_LINK_RAW;
	r->pad = 0;
	r->cap_len = 0;
	if (len > 0 && bpf_probe_read_kernel(r->data, len, head + l3) == 0)
		r->cap_len = len;
	capture_submit(r);
}

#endif
