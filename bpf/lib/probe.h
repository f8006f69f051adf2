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

/*
 * Keeps a type Java decodes (a ring-buffer record, an enum only code uses) in the object's BTF:
 * clang writes only the types that a map, a global or a function signature uses. A null pointer in
 * .rodata that nothing reads; probe/SharedLayoutTest checks each shared type against Java's layout.
 */
#define SHARED_WITH_JAVA(type, name) type *const volatile shared_##name = 0

/* The network namespace the tracepoint handlers report (its inode); 0 reports every namespace. */
const volatile __u32 target_netns = 0;

static __always_inline bool netns_wanted(__u32 inum)
{
	return !target_netns || inum == target_netns;
}

/*
 * The kernel's tick rate, from its configuration (libbpf reads it at load); 0 when the kernel does
 * not say. Handlers that only need coarse time read jiffies (bpf_jiffies64, inlined into a load of
 * a variable every CPU reads anyway): on a virtual machine a fine clock read costs more than the
 * rest of a handler (BENCHMARKS.md).
 */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* Jiffies in a second, taking 1000 when the kernel's rate is unknown (the most there is: periods come out no shorter). */
static __always_inline __u64 jiffies_per_second(void)
{
	return CONFIG_HZ ? CONFIG_HZ : 1000;
}

#endif
