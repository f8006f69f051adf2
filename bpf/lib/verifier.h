/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * verifier_forget(v): v itself, but a number the verifier no longer knows. The verifier checks each
 * path through a program with what it knows along it, and merges two paths only when what it knows
 * agrees; a choice between a few small constants (which way of a set, which scan style, which kind
 * of IPv6 extension header) would otherwise have it check everything after the choice once per
 * constant, and the probes after that once per combination. A global function's result is a bare
 * number to it (it checks the function once, on its own), so the paths merge after the call. The
 * same holds for a larger piece of work made a global function (scan_window_add, flood_rank,
 * hist_log2). The cost is a call where the value is made (about a nanosecond), so neither is used
 * on a path every segment takes, only on rarer ones: SYNs, new flows, extension headers. BENCHMARKS.md,
 * "A shorter verification": every probe's ingress program went from 449,000 instructions checked to
 * 81,000, and a watch's start shortened by about 0.15 s.
 */
#ifndef TCPINSPECT_VERIFIER_H
#define TCPINSPECT_VERIFIER_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__noinline __u32 verifier_forget(__u32 v)
{
	/* Also opaque to clang, which would otherwise see that the call returns its argument. */
	asm volatile("" : "+r"(v));
	return v;
}

#endif
