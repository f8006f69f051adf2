// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Returns 1 when a record of the size in the packet's first __u32 would wake the event reader
 * (lib/events.h's events_wakeup_flag), else 0, so that tests can check how often a CPU wakes it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lib/events.h"

SEC("xdp")
int rt_events_wakeup(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + sizeof(__u32) > data_end)
		return -1;
	return events_wakeup_flag(*(__u32 *)data) == BPF_RB_FORCE_WAKEUP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
