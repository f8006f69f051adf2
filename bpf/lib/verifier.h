/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * verifier_forget(v): v itself, but a number the verifier no longer knows. The verifier checks each
 * path through a program with what it knows along it, and merges two paths only when what it knows
 * agrees; a choice between a few small constants (which way of a set, which scan style) would
 * otherwise have it check everything after the choice once per constant, and the probes after that
 * once per combination. A global function's result is a bare number to it (it checks the function
 * once, on its own), so the paths merge after the call. The same holds for a larger piece of work
 * made a global function (scan_window_add, scan_source_clear, flood_rank, hist_bucket_outlined).
 *
 * Each is a call: a few nanoseconds with what the compiler then keeps on the stack across it, and
 * one more stack frame. So they sit where an established connection's segments do not go: on
 * segments without ACK and on a connection's state changes (with events on, also on rtt's check of
 * each segment whether its remote is due an event, after a clock read that costs far more); never
 * in the parse, which the enforcer's XDP program calls with its stack nearly full (packet.h reads
 * its value back from memory instead).
 * BENCHMARKS.md, "A shorter verification": every probe's TC ingress program went from 610,000
 * instructions checked to 81,000.
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
