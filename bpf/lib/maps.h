/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Small map helpers shared by the probes (libbpf-tools keep theirs in maps.bpf.h). */
#ifndef TCPINSPECT_MAPS_H
#define TCPINSPECT_MAPS_H

/*
 * Looks a key up, inserting init first when it is absent (racing inserts are fine: one wins).
 * NULL only when the map is full, which callers count: a full table is never silent.
 */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
	void *value = bpf_map_lookup_elem(map, key);

	if (value)
		return value;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/*
 * Per-CPU counter array bump. Atomic although per CPU: a program's run can be interrupted on its
 * CPU by a softirq running another program of the same object, or the same code as its twin
 * (twin.h), and a plain increment would lose one of the two. Uncontended, it costs a few cycles.
 */
#define PERCPU_BUMP(map, slot)                                     \
	do {                                                       \
		__u32 __slot = (slot);                             \
		__u64 *__n = bpf_map_lookup_elem(&(map), &__slot); \
		if (__n)                                           \
			__sync_fetch_and_add(__n, 1);              \
	} while (0)

/*
 * The same without the atomic, for counters that no two runs on one CPU can update at once: those
 * of a packet program (one CPU never runs two at once) or of a tracepoint only one program
 * handles (the kernel never runs a program nested in itself). A locked add costs more than the
 * increment, and holds back the loads after it.
 */
#define PERCPU_ADD(map, slot)                                      \
	do {                                                       \
		__u32 __slot = (slot);                             \
		__u64 *__n = bpf_map_lookup_elem(&(map), &__slot); \
		if (__n)                                           \
			(*__n)++;                                  \
	} while (0)

/*
 * Counters of a twin pair's handler (twin.h), one set per copy: the copies can interrupt each other
 * on a CPU, but a copy never interrupts itself, so each can increment its own set without an atomic.
 * User space adds the sets up (slot i of copy c is entry i + c * slots).
 */
#define PERCPU_ADD_COPY(map, slot, slots, copy) PERCPU_ADD(map, (slot) + ((copy) ? (slots) : 0))

/* A per-CPU array of __u64 counters, one per slot of an enum: a probe's "stats". */
#define PERCPU_COUNTERS(name, slots)                   \
	struct {                                       \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, slots);            \
		__type(key, __u32);                    \
		__type(value, __u64);                  \
	} name SEC(".maps")

/*
 * A probe's ring buffer of events (events.h), named PROBE_events. User space shrinks it to a page when
 * nobody reads events, and sizes the batches of wakeups to the smallest of them.
 */
#define EVENT_RING(name, bytes)                   \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_RINGBUF); \
		__uint(max_entries, bytes);       \
	} name SEC(".maps")

#endif
