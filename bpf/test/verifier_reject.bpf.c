// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* A program the verifier must refuse (packet read without a bounds check): tests that the runtime
 * names the program and carries the verifier log. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int rt_reject(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;

	return data[20] == 7 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
