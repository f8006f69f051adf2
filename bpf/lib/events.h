/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Batched ring-buffer wakeups. Waking the reader for every record costs a context switch per event,
 * which at tens of thousands of events a second costs the traffic itself. Each CPU submits its
 * records without a wakeup until it has submitted events_wakeup_bytes since its last one, and then
 * wakes the reader, which drains every ring; the reader also polls on a short timer, so a quiet ring
 * is still read within that time (RingBufReader: 50 ms).
 *
 * The count is the CPU's own, in a per-CPU slot. Asking the ring how much data waits
 * (bpf_ringbuf_query) reads its positions, cache lines that the reader and the other CPUs write,
 * on every record; with it, and a wakeup per 64 KiB waiting in any one ring, the events of a short
 * connection cost some 200 ns more (BENCHMARKS.md).
 */
#ifndef TCPINSPECT_EVENTS_H
#define TCPINSPECT_EVENTS_H

/*
 * Set at load (probe.ProbeSet): at most 256 KiB, and less on a host with so many CPUs that their
 * unannounced records together could fill half the smallest ring of events before the reader's
 * timer comes round (but never under a page).
 */
const volatile __u32 events_wakeup_bytes = 64 * 1024;

/* Bytes this CPU has submitted since it last woke the reader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} events_unannounced SEC(".maps");

/*
 * Whether anyone reads the events: user space sets it at load (probe.ProbeSet). The table view shows
 * counters and maps only, so its probes make no records at all: no ring traffic in the kernel,
 * no reader in Java.
 */
const volatile __u32 emit_events = 1;

/*
 * Reserves a record when events are wanted, counting a full ring in the probe's per-CPU stats
 * (PERCPU_BUMP, maps.h). NULL when none is wanted or there was no room.
 */
#define EVENT_RESERVE(ring, size, stats_map, lost_slot)                  \
	({                                                                \
		void *__e = NULL;                                         \
		if (emit_events) {                                        \
			__e = bpf_ringbuf_reserve(&(ring), (size), 0);    \
			if (!__e)                                         \
				PERCPU_BUMP(stats_map, lost_slot);        \
		}                                                         \
		__e;                                                      \
	})

/*
 * The flag for submitting a record of events (a PROBE_events ring) of size bytes. A nested program
 * on the same CPU (a packet hook in the softirq that interrupted a tracepoint's) may lose an
 * addition: a wakeup comes a little later.
 */
static __always_inline __u64 events_wakeup_flag(__u32 size)
{
	__u32 zero = 0;
	__u32 *unannounced = bpf_map_lookup_elem(&events_unannounced, &zero);

	if (!unannounced)
		return BPF_RB_FORCE_WAKEUP;
	*unannounced += size + 8; /* the ring's record header */
	if (*unannounced < events_wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	*unannounced = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/*
 * The flag for a record of alerts (PROBE_alerts rings, read whatever the output) that are rare but
 * can come in a burst: a spoofed flood raises anomaly reports from each of its sources. The reader is
 * woken once ALERTS_WAKEUP_BYTES wait in the ring (a quarter of anomaly's). Asking the ring on every
 * record costs what events could not afford, which alerts can.
 */
#define ALERTS_WAKEUP_BYTES (64 * 1024)

static __always_inline __u64 alerts_wakeup_flag(void *ring)
{
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= ALERTS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
										   : BPF_RB_NO_WAKEUP;
}

#endif
