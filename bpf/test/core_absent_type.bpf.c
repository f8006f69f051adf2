// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* A CO-RE check of a type no kernel has, as a probe's fallback for another kernel version makes
 * one: libbpf before 1.3 then searches the kernel modules' BTF, which takes CAP_SYS_ADMIN. Tests that
 * the runtime loads such an object without it (ebpf.OpenObject). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct tcpinspect_type_no_kernel_has {
	int field;
} __attribute__((preserve_access_index));

SEC("socket")
int rt_absent(struct __sk_buff *skb)
{
	return bpf_core_type_exists(struct tcpinspect_type_no_kernel_has) ? 1 : 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
