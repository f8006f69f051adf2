/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Batched ring-buffer wakeups. Waking the reader for every record costs a context switch per event,
 * which at tens of thousands of events a second costs the traffic itself. Records are submitted
 * without a wakeup until EVENTS_WAKEUP_BYTES are waiting; the reader also polls on a short timer,
 * so a quiet ring is still read within that time (RingBufReader: 50 ms).
 */
#ifndef TCPINSPECT_EVENTS_H
#define TCPINSPECT_EVENTS_H

#define EVENTS_WAKEUP_BYTES (64 * 1024)

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

static __always_inline __u64 events_wakeup_flag(void *ring)
{
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= EVENTS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
										   : BPF_RB_NO_WAKEUP;
}

#endif
