// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * A clock for bench/FloodCost.java: the time each CPU spends in the NET_RX softirq (where a veth's
 * NAPI poll runs XDP and the stack's receive path), from the softirq tracepoints. /proc/stat's
 * softirq figure on this kernel is a sample at each 4 ms tick (no CONFIG_IRQ_TIME_ACCOUNTING): a
 * few seconds of flood give it a few hundred samples, too few to tell 10% apart. Runs on every
 * softirq of every vector and counts NET_RX's (in a flood from one sender about one a packet); part of
 * its own time falls inside what it measures (FloodCost says how much at most). Slot 0 is zeroed by
 * FloodCost before each attach, so a softirq that began before it is not counted from a stale start.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NET_RX_SOFTIRQ 3

/* Per CPU: [0] when the NET_RX softirq running now began (0 when none), [1] its total ns, [2] how many ran. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} net_rx_time SEC(".maps");

static __always_inline __u64 *slot(__u32 i)
{
	return bpf_map_lookup_elem(&net_rx_time, &i);
}

/* tp_btf/softirq_entry and _exit: void (unsigned int vec_nr), the first argument. */
SEC("tp_btf/softirq_entry")
int tcpi_bench_softirq_entry(__u64 *ctx)
{
	__u64 *start = slot(0);

	if ((unsigned int)ctx[0] == NET_RX_SOFTIRQ && start)
		*start = bpf_ktime_get_ns();
	return 0;
}

/* The clock read first here and last on entry: as little of the tracer's own time inside what it measures. */
SEC("tp_btf/softirq_exit")
int tcpi_bench_softirq_exit(__u64 *ctx)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 *start = slot(0);
	__u64 *total = slot(1);
	__u64 *count = slot(2);

	if ((unsigned int)ctx[0] != NET_RX_SOFTIRQ || !start || !total || !count || !*start)
		return 0;
	*total += now - *start;
	*count += 1;
	*start = 0;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
