// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Feature probe: loads only where fentry works (needs ftrace function hooks). Never attached. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("fentry/tcp_v4_rcv")
int tcpi_probe_fentry(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
