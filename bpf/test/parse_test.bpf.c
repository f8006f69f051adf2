// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The packet parser (lib/packet.h) on its own, for the packet fuzzer (PacketFuzzTest): each program
 * parses the frame BPF_PROG_TEST_RUN gives it through the same entry the product's ingress programs
 * use (pkt_parse_skb at TC, pkt_parse_xdp at XDP), makes the flow tuple as the probes do, and leaves
 * the verdict and every field in parse_seen, where the test compares them with its reference parser.
 * The packet goes on unchanged.
 */
#include "lib/probe.h"
#include "lib/packet.h"

/* Flat, so that the test can check its Java layout against this object's BTF (BtfLayouts). */
struct parse_seen {
	__s32 result;      /* enum parse_result */
	__u32 runs;        /* one more each run: the test sees that this run wrote the rest */
	__u16 sport;
	__u16 dport;
	__u8 flags;
	__u8 ip_version;
	__u16 l3_offset;
	__u16 l4_offset;
	__u8 flags_hi;
	__u8 doff;
	__u32 payload_len;
	__u8 tuple_ok;     /* pkt_tuple() made a tuple (asked for TCP segments only, as the probes ask) */
	__u8 pad;
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u8 laddr[16];
	__u8 raddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct parse_seen);
} parse_seen SEC(".maps");

static __always_inline void keep(struct pkt *p)
{
	__u32 zero = 0;
	struct parse_seen *s = bpf_map_lookup_elem(&parse_seen, &zero);

	if (!s)
		return;
	__u32 runs = s->runs + 1;

	__builtin_memset(s, 0, sizeof(*s));
	s->runs = runs;
	s->result = p->result;
	s->sport = p->tcp.sport;
	s->dport = p->tcp.dport;
	s->flags = p->tcp.flags;
	s->ip_version = p->tcp.ip_version;
	s->l3_offset = p->tcp.l3_offset;
	s->l4_offset = p->tcp.l4_offset;
	s->flags_hi = p->tcp.flags_hi;
	s->doff = p->tcp.doff;
	s->payload_len = p->tcp.payload_len;
	if (p->result != PARSE_TCP)
		return;
	const struct pkt_tuple *t = pkt_tuple(p);

	if (!t)
		return;
	s->tuple_ok = 1;
	s->family = t->family;
	s->lport = t->lport;
	s->rport = t->rport;
	__builtin_memcpy(s->laddr, t->laddr, 16);
	__builtin_memcpy(s->raddr, t->raddr, 16);
}

SEC("tc")
int rt_parse_tc(struct __sk_buff *skb)
{
	struct pkt p;

	pkt_parse_skb(skb, &p, true);
	keep(&p);
	return TC_ACT_UNSPEC;
}

SEC("xdp")
int rt_parse_xdp(struct xdp_md *ctx)
{
	struct pkt p;

	pkt_parse_xdp(ctx, &p);
	keep(&p);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
