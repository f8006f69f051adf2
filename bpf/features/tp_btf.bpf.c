// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Feature probe: loads only where BTF-typed tracepoints (tp_btf) work. Never attached. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tp_btf/inet_sock_set_state")
int tcpi_probe_tpbtf(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
