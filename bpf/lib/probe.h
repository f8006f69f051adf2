/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What every probe header starts from: the running kernel's types (vmlinux.h, so TCP states,
 * IPPROTO_TCP and the drop reasons are the kernel's own, relocated by CO-RE), libbpf's helpers,
 * and the switches user space sets before the object is loaded.
 */
#ifndef TCPINSPECT_PROBE_H
#define TCPINSPECT_PROBE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

/*
 * A probe runs only when user space switches it on (probe.ProbeSet sets NAME_enabled for each
 * running probe before loading). The verifier sees a constant: the code of a probe that is off is
 * never verified and is removed, and user space does not create its maps, which are all named
 * NAME_... for that reason.
 */
#define PROBE_SWITCH(name) const volatile bool name##_enabled = false

/* The network namespace the tracepoint handlers report (its inode); 0 reports every namespace. */
const volatile __u32 target_netns = 0;

static __always_inline bool netns_wanted(__u32 inum)
{
	return !target_netns || inum == target_netns;
}

#endif
