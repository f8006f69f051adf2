// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Programs and maps that exercise the Java eBPF runtime (not a probe): read-only constants, every
 * supported map type, the ring buffer, test runs, tracepoint flavours, XDP, TC, socket filters.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* Set by the test before load; the XDP program returns it, proving the constant reached the kernel. */
const volatile __u32 xdp_verdict = XDP_PASS;
/* When set, the XDP program writes 0xAB into byte 0 (to test the output packet of a test run). */
const volatile __u32 mark_packet = 0;
/* Copied into every ring-buffer record. */
const volatile __u32 record_tag = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} plain_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hash SEC(".maps");

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct test_record {
	__u64 seq;
	__u32 tag;
	__u32 pad;
};

static __always_inline void bump(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&hits, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* Each run: count per CPU, emit one ring record (counting a full ring in hits[7]), maybe mark byte 0. */
SEC("xdp")
int rt_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0, seq_slot = 6;
	__u64 *pc = bpf_map_lookup_elem(&percpu_array, &zero);
	__u64 *seq = bpf_map_lookup_elem(&hits, &seq_slot);

	if (pc)
		(*pc)++;
	if (seq) {
		struct test_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

		if (r) {
			r->seq = __sync_fetch_and_add(seq, 1);
			r->tag = record_tag;
			r->pad = 0;
			bpf_ringbuf_submit(r, 0);
		} else {
			bump(7);
		}
	}
	if (mark_packet && data + 1 <= data_end)
		*(__u8 *)data = 0xAB;
	return xdp_verdict;
}

SEC("tc")
int rt_tc(struct __sk_buff *skb)
{
	bump(0);
	return TC_ACT_UNSPEC;
}

SEC("tracepoint/sock/inet_sock_set_state")
int rt_tracepoint(void *ctx)
{
	bump(1);
	return 0;
}

SEC("raw_tracepoint/inet_sock_set_state")
int rt_raw_tp(void *ctx)
{
	bump(2);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int rt_tp_btf(void *ctx)
{
	bump(3);
	return 0;
}

SEC("socket")
int rt_socket(struct __sk_buff *skb)
{
	bump(4);
	return skb->len;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
