// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Returns hist_bucket() of the u64 at the start of the packet, so tests can compare the kernel's
 * bucketing with LogLinearHistogram's. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lib/hist.h"

SEC("xdp")
int rt_hist_bucket(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + sizeof(__u64) > data_end)
		return -1;
	return hist_bucket(*(__u64 *)data);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
