/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * One XDP program per interface, one parse: an interface has room for one XDP program, so the
 * enforcer's (enforce.bpf.c) hands every packet it lets through to a watch's XDP probes
 * (tcpinspect.bpf.c, tcpi_xdp_behind) instead of either refusing the other. The enforcer writes its
 * parse into a per-CPU slot and tail-calls the program in its observer slot; that program reads the
 * parse back instead of parsing again, runs the probes and returns XDP_PASS, the enforcer's own
 * verdict (only passed packets are handed on: the probes see what the stack gets, as they do at TC
 * behind it). With no observer in the slot the tail call falls through and the enforcer returns.
 *
 * Both objects include this header, so the slot's layout is the same on both sides; the watch
 * reuses the enforcer's pinned slot map (probe.XdpHandoff) and puts its program in the observer
 * slot, which one watch at a time may hold (enforce.EnforcerHandoff).
 */
#ifndef TCPINSPECT_HANDOFF_H
#define TCPINSPECT_HANDOFF_H

#include "packet.h"

/* A packet's parse as the enforcer made it: offsets only (packet.h), valid for the same frame. */
struct xdp_handoff {
	int result;          /* enum parse_result */
	struct tcp_view tcp; /* valid when result == PARSE_TCP */
};

/* The per-CPU slot: one CPU runs one XDP program at a time, so the tail call finds what was written. */
#define XDP_HANDOFF_MAP(name, extra)                   \
	struct {                                       \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, 1);                \
		__type(key, __u32);                    \
		__type(value, struct xdp_handoff);     \
		extra;                                 \
	} name SEC(".maps")

#endif
